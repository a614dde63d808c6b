"""Keeps TensorFlow's own INFO lines out of a command's output.

TensorFlow logs every checkpoint and SavedModel write at INFO through absl, the
same channel as this project's progress lines. Entry points (the trainer, the
tools) call `quiet_tensorflow_info()` once; library code never changes logging.
"""

import logging
import os

from absl import logging as absl_logging

_TENSORFLOW_DIR = os.sep + "tensorflow" + os.sep


class _DropTensorFlowInfo(logging.Filter):
  """Drops records below WARNING that come from TensorFlow's own modules."""

  def filter(self, record):
    return (record.levelno >= logging.WARNING or
            _TENSORFLOW_DIR not in record.pathname)


def quiet_tensorflow_info():
  """Hides TensorFlow's INFO logs; warnings, errors and other logs stay."""
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
  absl_logging.get_absl_handler().addFilter(_DropTensorFlowInfo())
