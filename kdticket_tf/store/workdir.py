"""The workdir's guards: one writer at a time, and earlier runs never lost.

* `WorkdirLock` makes a run the only writer of its workdir: a second run is refused
  with a message naming the running process; a lock left by a process that no
  longer runs (on this host) is taken over.
* `replace` moves an earlier run aside (never deletes it) when the user asks to
  start over in the same workdir.

The configuration a workdir records, and the check that a rerun keeps it, are
`config/recorded.py`'s.
"""

import abc
import json
import os
import socket
import time

from kdticket_tf.store import layout as layout_lib


class WorkdirInUseError(RuntimeError):
  """Another live process holds the workdir's lock."""


def process_alive(pid):
  """Whether process `pid` runs on this host."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _command_line(pid):
  try:
    with open(f"/proc/{pid}/cmdline", "rb") as stream:
      return stream.read().replace(b"\0", b" ").decode(errors="replace").strip()
  except OSError:
    return "?"


class LockFile(abc.ABC):
  """A lock file, created exclusively with its holder's record.

  A context manager; subclasses say in `acquire` what to do when another
  process holds it (`WorkdirLock` refuses, `stage_lock.StageLock` waits).
  """

  def __init__(self, path):
    self.path = path
    self._held = False

  def _create(self, record):
    """Creates the lock with `record` (a dict); False if it exists."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    try:
      handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(handle, "w") as stream:
      json.dump(record, stream)
    self._held = True
    return True

  def _remove(self):
    try:
      os.remove(self.path)
    except FileNotFoundError:
      pass

  @abc.abstractmethod
  def acquire(self):
    """Takes the lock; returns `self`."""

  def release(self):
    """Releases the lock if this process holds it."""
    if self._held:
      self._remove()
      self._held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *unused):
    self.release()


class WorkdirLock(LockFile):
  """An exclusive lock file in the workdir, released on exit (or taken over)."""

  def __init__(self, workdir):
    super().__init__(layout_lib.Layout(workdir).lock)

  def acquire(self):
    """Takes the lock.

    Raises:
      WorkdirInUseError: naming the process that holds it.
    """
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.time(), "command": _command_line(os.getpid())}
    for _ in range(3):
      if self._create(record):
        return self
      self._check_holder()
    raise WorkdirInUseError(
        f"Could not take the lock {self.path}; another run keeps taking it.")

  def _check_holder(self):
    """Raises if a live process holds the lock; removes a stale lock."""
    try:
      with open(self.path, encoding="utf-8") as stream:
        holder = json.load(stream)
    except (OSError, ValueError):
      holder = {}
    pid = holder.get("pid")
    same_host = holder.get("host") == socket.gethostname()
    if isinstance(pid, int) and (not same_host or process_alive(pid)):
      raise WorkdirInUseError(
          f"{os.path.dirname(self.path)} is in use by process {pid} on "
          f"{holder.get('host')} ({holder.get('command', '?')}); wait for it "
          f"to finish, or delete {self.path} if that process is gone.")
    self._remove()  # stale: its process is gone


def replace(workdir):
  """Moves an earlier run in `workdir` aside to `<workdir>.replaced-<time>`.

  Returns:
    The new path of the earlier run, or None if there was nothing to move.
  """
  if not os.path.isdir(workdir) or not os.listdir(workdir):
    return None
  target = f"{workdir.rstrip(os.sep)}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
  os.rename(workdir, target)
  return target
