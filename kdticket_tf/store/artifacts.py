"""Atomic writes and checked reads of the files a run leaves in its workdir.

Every file is written to a temporary name in the same folder and renamed into
place, so a crash leaves either the old file or the new one, never half of one.
A write that fails (a full disk, a read-only folder) raises `WriteError`, which
names the file; the stage runner adds the stage (`run/outcomes.py`).
"""

import contextlib
import errno
import json
import os
import tempfile

# The causes of a failed write a person can fix, and what to do; TensorFlow
# names them in its own errors by the system's words (`os.strerror`).
_FIXES = {errno.ENOSPC: "free space", errno.EDQUOT: "free space",
          errno.EROFS: "make its folder writable",
          errno.EACCES: "make its folder writable",
          errno.EPERM: "make its folder writable"}


class WriteError(OSError):
  """A file could not be written: its message names it, the cause and the fix.

  Attributes:
    errno, strerror, filename: As `OSError`'s (the file that was written).
    stage: The stage that wrote it (`kd/level_02`), or None.
  """

  def __init__(self, code, reason, path, stage=None):
    super().__init__(code, reason, path)
    self.stage = stage

  def for_stage(self, stage):
    """Returns this error naming the stage that wrote the file."""
    return WriteError(self.errno, self.strerror, self.filename, stage)

  def __str__(self):
    where = f" for stage {self.stage}" if self.stage else ""
    cause = (f"[Errno {self.errno}] {self.strerror}" if self.errno
             else self.strerror)
    fix = _FIXES.get(self.errno, "fix that")
    return (f"Could not write {self.filename}{where}: {cause}; {fix} and "
            "rerun to resume.")


def _system_errno(error):
  """The errno of `_FIXES` whose words TensorFlow's error gives, or None."""
  text = str(error)
  return next((code for code in _FIXES if os.strerror(code) in text), None)


@contextlib.contextmanager
def writing(path):
  """Turns the failure of a write of `path` into a `WriteError` naming it.

  An `OSError`, or an error of TensorFlow's that gives a cause of `_FIXES`
  (a `ResourceExhaustedError` "No space left on device" of a checkpoint, a
  SavedModel); any other error propagates as it is.

  Args:
    path: The file (or folder) being written.

  Raises:
    WriteError: naming `path`, the cause and the fix.
  """
  try:
    yield
  except WriteError:
    raise
  except OSError as error:
    raise WriteError(error.errno, error.strerror or str(error),
                     path) from error
  except Exception as error:  # pylint: disable=broad-except
    code = _system_errno(error)
    if code is None:
      raise
    raise WriteError(code, os.strerror(code), path) from error


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path in `path`'s folder; renames it to `path` on success.

  Raises:
    WriteError: naming `path`, when it cannot be written (see `writing`).
  """
  temporary = None
  with writing(path):
    try:
      folder = os.path.dirname(os.path.abspath(path))
      os.makedirs(folder, exist_ok=True)
      handle, temporary = tempfile.mkstemp(
          dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
      os.close(handle)
      yield temporary
      os.chmod(temporary, 0o644)  # mkstemp makes it private; results are not
      os.replace(temporary, path)
    finally:
      if temporary is not None and os.path.exists(temporary):
        os.remove(temporary)


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  with atomic_path(path) as temporary:
    with open(temporary, "w", encoding="utf-8") as stream:
      stream.write(text)


def write_json(path, value):
  """Writes `value` as indented JSON to `path` atomically."""
  write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def read_json(path):
  """Reads JSON from `path`.

  Raises:
    ValueError: naming the file when it is not valid JSON.
  """
  try:
    with open(path, encoding="utf-8") as stream:
      return json.load(stream)
  except json.JSONDecodeError as error:
    raise ValueError(
        f"{path} is corrupt ({error}); delete it to recompute that stage.") from None
