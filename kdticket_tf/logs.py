"""What a command prints: clean progress lines, not TensorFlow's start-up noise.

By default a command prints its own lines (progress, tables, errors) and nothing
of TensorFlow's: not the C++ lines it writes while loading ("Could not find cuda
drivers", "failed call to cuInit" on a machine without a GPU, oneDNN notes),
not its INFO logs (every checkpoint and SavedModel write goes through absl, the
channel of this project's progress lines), not their warnings (Keras's "callback
is slow", TFDS's "variant folder" with no dataset_info.json when it merely looked
for a prepared copy that is not there). TensorFlow's logs come back with verbose=2, or
when the user sets `TF_CPP_MIN_LOG_LEVEL=0`. A level of 1 to 3 gets the default
output: TensorFlow 2.21 no longer honours the variable for its start-up lines
(oneDNN, CUDA), and its Python INFO logs ("Sharding callback duration",
"Assets written") never read it.

Entry points (the trainer, the tools, worker processes) call
`start_tensorflow()` once, before anything imports TensorFlow. The Python API
(`kdticket_tf.find_tickets`) imports TensorFlow through `import_quietly`, which
holds its C++ start-up lines the same way; library code never changes logging.
"""

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile

from absl import logging as absl_logging

from kdticket_tf import environment

_LIBRARY_DIRS = tuple(os.sep + name + os.sep
                      for name in ("tensorflow", "tensorflow_datasets",
                                   "tf_keras"))
_MISSING_VARIANT = re.compile(r"Variant folder (.+) has no dataset_info\.json")


class _DropTensorFlowInfo(logging.Filter):
  """Drops TensorFlow's, Keras's and TFDS's records below `level`, and TFDS's
  warning about a prepared-dataset folder that does not exist."""

  def __init__(self, level=logging.WARNING):
    super().__init__()
    self._level = level

  def filter(self, record):
    if not any(d in record.pathname for d in _LIBRARY_DIRS):
      return True
    if record.levelno < self._level:
      return False
    missing = _MISSING_VARIANT.fullmatch(record.getMessage())
    return not (missing and not os.path.exists(missing.group(1)))


class _PlainLines(logging.Formatter):
  """Progress lines as they are; warnings and errors with their level."""

  def format(self, record):
    message = record.getMessage()
    if record.levelno >= logging.WARNING:
      return f"{record.levelname.lower()}: {message}"
    return message


def quiet_tensorflow_info(level=logging.WARNING):
  """Hides TensorFlow's logs below `level` (INFO by default); others stay."""
  logging.getLogger("tensorflow").setLevel(level)
  absl_logging.get_absl_handler().addFilter(_DropTensorFlowInfo(level))


def plain_lines():
  """Prints log lines without absl's prefix (level, time, thread, file:line).

  Also in a process that absl's `app.run` did not start (a worker).
  """
  absl_logging.use_absl_handler()
  absl_logging.get_absl_handler().setFormatter(_PlainLines())


@contextlib.contextmanager
def _native_stderr_held():
  """Holds what is written to file descriptor 2 (C++ logs included).

  The text is dropped when the block succeeds and written out when it raises,
  so a failure still shows everything TensorFlow said.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    except BaseException:
      os.dup2(saved, 2)
      held.seek(0)
      sys.stderr.write(held.read().decode(errors="replace"))
      raise
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)


def quiet_native_logs():
  """Holds back C++ log lines unless the user asked for TensorFlow's logs.

  LiteRT's interpreter says "Created TensorFlow Lite XNNPACK delegate for
  CPU." on its own; a failure still shows what was held.
  """
  if tensorflow_logs_wanted(0):
    return contextlib.nullcontext()
  return _native_stderr_held()


def tensorflow_logs_wanted(verbose):
  """True when TensorFlow's own logs should be shown.

  Args:
    verbose: The command's verbosity.

  Returns:
    Whether `verbose` is 2, or the user set `TF_CPP_MIN_LOG_LEVEL=0`.
  """
  return verbose >= 2 or environment.USER_LOG_LEVEL == "0"


def import_quietly(name):
  """Imports module `name`; TensorFlow's C++ start-up lines are held back.

  The lines (oneDNN, CUDA) are dropped when the import succeeds and written
  out when it fails; nothing is held once TensorFlow is loaded, or when the
  user asked for its logs with `TF_CPP_MIN_LOG_LEVEL=0`.

  Args:
    name: The module's full name.

  Returns:
    The module.
  """
  if "tensorflow" in sys.modules or tensorflow_logs_wanted(0):
    return importlib.import_module(name)
  with _native_stderr_held():
    module = importlib.import_module(name)
    if "tensorflow" in sys.modules:  # where CUDA says it found no driver
      sys.modules["tensorflow"].config.list_physical_devices()
  return module


def start_tensorflow(verbose=1):
  """Imports TensorFlow for a command and sets up its output.

  Args:
    verbose: The command's verbosity; 2 keeps TensorFlow's own logs.

  Returns:
    The `tensorflow` module.
  """
  plain_lines()
  if tensorflow_logs_wanted(verbose):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  with _native_stderr_held():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top,unused-import
    tf.config.list_physical_devices()  # where CUDA says it found no driver
  # Their warnings too ("callback is slow", "variant folder has no
  # dataset_info.json"): what matters reaches the user as an error.
  quiet_tensorflow_info(logging.ERROR)
  return tf
