"""Test setup: Keras 2 for TF-MOT, quiet TensorFlow logs, small thread pools."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kdticket_tf  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position


def pytest_collection_modifyitems(items):
  # tf.test.TestCase inherits a deprecated `test_session` context manager that
  # pytest would collect and report as skipped; it is not a test.
  items[:] = [item for item in items if item.name != "test_session"]
