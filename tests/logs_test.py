"""TensorFlow's INFO lines are dropped; this project's and all warnings stay."""

import logging
import os
import subprocess
import sys

import tensorflow as tf

from kdticket_tf import logs
from tests import testing


def _record(path, level, message="message", args=None):
  return logging.LogRecord("x", level, path, 1, message, args, None)


class LogsTest(tf.test.TestCase):

  def test_filter_drops_only_tensorflow_info(self):
    drop = logs._DropTensorFlowInfo()  # pylint: disable=protected-access
    tf_file = "/venv/site-packages/tensorflow/python/checkpoint/saver.py"
    self.assertFalse(drop.filter(_record(tf_file, logging.INFO)))
    self.assertTrue(drop.filter(_record(tf_file, logging.WARNING)))
    self.assertTrue(drop.filter(_record("/repo/kdticket_tf/lottery.py",
                                        logging.INFO)))

  def test_filter_drops_tfds_info_and_its_warning_about_no_folder(self):
    drop = logs._DropTensorFlowInfo()  # pylint: disable=protected-access
    tfds_file = "/venv/site-packages/tensorflow_datasets/core/file_utils.py"
    self.assertFalse(drop.filter(_record(tfds_file, logging.INFO)))
    message = "Variant folder %s has no dataset_info.json"
    existing = self.get_temp_dir()
    missing = os.path.join(existing, "fashion_mnist", "3.0.1")
    self.assertFalse(drop.filter(_record(tfds_file, logging.WARNING, message,
                                         (missing,))))
    self.assertTrue(drop.filter(_record(tfds_file, logging.WARNING, message,
                                        (existing,))))
    self.assertTrue(drop.filter(_record(tfds_file, logging.WARNING)))


class EnvironmentTest(tf.test.TestCase):

  def _given(self, **variables):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "KDTICKET_TF_SET_LOG_LEVEL")}
    result = subprocess.run(
        [sys.executable, "-c", "from kdticket_tf import environment; "
         "print(environment.TF_LOG_LEVEL_GIVEN)"],
        env=dict(env, PYTHONPATH=testing.ROOT, **variables),
        capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()

  def test_only_the_users_own_log_level_counts_as_given(self):
    self.assertEqual(self._given(), "False")
    self.assertEqual(self._given(TF_CPP_MIN_LOG_LEVEL="0"), "True")
    # A worker process inherits the level the package set in its parent.
    self.assertEqual(self._given(TF_CPP_MIN_LOG_LEVEL="3",
                                 KDTICKET_TF_SET_LOG_LEVEL="1"), "False")


if __name__ == "__main__":
  tf.test.main()
