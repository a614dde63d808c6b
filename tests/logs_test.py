"""TensorFlow's INFO lines are dropped; this project's and all warnings stay."""

import logging

import tensorflow as tf

from kdticket_tf import logs


def _record(path, level):
  return logging.LogRecord("x", level, path, 1, "message", None, None)


class LogsTest(tf.test.TestCase):

  def test_filter_drops_only_tensorflow_info(self):
    drop = logs._DropTensorFlowInfo()  # pylint: disable=protected-access
    tf_file = "/venv/site-packages/tensorflow/python/checkpoint/saver.py"
    self.assertFalse(drop.filter(_record(tf_file, logging.INFO)))
    self.assertTrue(drop.filter(_record(tf_file, logging.WARNING)))
    self.assertTrue(drop.filter(_record("/repo/kdticket_tf/lottery.py",
                                        logging.INFO)))


if __name__ == "__main__":
  tf.test.main()
