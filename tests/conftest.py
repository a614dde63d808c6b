"""Test setup: Keras 2 for TF-MOT, quiet TensorFlow logs, small thread pools."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kdticket_tf  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position


# The longest test files (minutes of setUpClass runs and subprocesses) run
# first, so the parallel workers (pytest.ini) do not end on one of them while
# the others idle. A file not named here runs after these, in name order.
_LONGEST_FIRST = ("executors_test.py", "reliability_test.py", "lottery_test.py",
                  "distribute_test.py", "train_test.py", "logs_test.py",
                  "export_test.py", "checks_test.py")


def _order(item):
  name = os.path.basename(str(item.fspath))
  return (_LONGEST_FIRST.index(name) if name in _LONGEST_FIRST
          else len(_LONGEST_FIRST))


def pytest_collection_modifyitems(items):
  # tf.test.TestCase inherits a deprecated `test_session` context manager that
  # pytest would collect and report as skipped; it is not a test.
  items[:] = sorted((item for item in items if item.name != "test_session"),
                    key=_order)  # stable: name order within each rank
