"""Atomic writes and checked reads of the files a run leaves in its workdir.

Every file is written to a temporary name in the same folder and renamed into
place, so a crash leaves either the old file or the new one, never half of one.
"""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path in `path`'s folder; renames it to `path` on success."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, temporary = tempfile.mkstemp(
      dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
  os.close(handle)
  try:
    yield temporary
    os.chmod(temporary, 0o644)  # mkstemp makes it private; results are not
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
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
