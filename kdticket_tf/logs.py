"""Keeps TensorFlow's and TFDS's own INFO lines out of a command's output.

TensorFlow logs every checkpoint and SavedModel write at INFO through absl, the
same channel as this project's progress lines; TFDS logs each dataset it
constructs, and warns about a "variant folder" with no dataset_info.json when
it merely looked for a prepared copy that is not there (the project then reads
the IDX files). Entry points (the trainer, the tools) call
`quiet_tensorflow_info()` once; library code never changes logging.
"""

import logging
import os
import re

from absl import logging as absl_logging

_LIBRARY_DIRS = tuple(os.sep + name + os.sep
                      for name in ("tensorflow", "tensorflow_datasets"))
_MISSING_VARIANT = re.compile(r"Variant folder (.+) has no dataset_info\.json")


class _DropTensorFlowInfo(logging.Filter):
  """Drops TensorFlow's and TFDS's records below WARNING, and TFDS's warning
  about a prepared-dataset folder that does not exist."""

  def filter(self, record):
    if not any(d in record.pathname for d in _LIBRARY_DIRS):
      return True
    if record.levelno < logging.WARNING:
      return False
    missing = _MISSING_VARIANT.fullmatch(record.getMessage())
    return not (missing and not os.path.exists(missing.group(1)))


def quiet_tensorflow_info():
  """Hides TensorFlow's INFO logs; warnings, errors and other logs stay."""
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
  absl_logging.get_absl_handler().addFilter(_DropTensorFlowInfo())
