"""One live trainer per stage: a lock file in the stage's folder.

Whichever process trains a stage (the coordinator itself, a local worker, a Ray
task) holds `<stage>/.lock` while it does. The workdir's lock (`workdir.py`)
already keeps a second coordinator out, but a coordinator that dies leaves
workers behind for a moment (they stop within a second, `executors.py`), and a
run resumed at once must not train the same folder beside them. So a process
that finds the lock held by a live process on this host waits for it to end;
a lock whose process is gone (killed, or its pid now names a process started
after the lock was written) is taken over.

A holder on another host (a Ray cluster sharing the workdir) cannot be checked
from here; its lock is taken over, and Ray itself stops the tasks of a driver
that died.
"""

import json
import os
import socket
import sys
import time

from kdticket_tf.store import workdir as workdir_lib


def _start_time(pid):
  """When process `pid` started (seconds since the epoch), or None if unknown."""
  try:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stream:
      ticks = int(stream.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat", encoding="utf-8") as stream:
      boot = next(int(line.split()[1]) for line in stream
                  if line.startswith("btime "))
  except (OSError, ValueError, IndexError, StopIteration):
    return None
  return boot + ticks / os.sysconf("SC_CLK_TCK")


def _holds(holder):
  """Whether the process a lock record names still runs and still holds it."""
  pid = holder.get("pid")
  if not isinstance(pid, int) or pid == os.getpid():
    return False
  if holder.get("host") != socket.gethostname():
    return False
  if not workdir_lib.process_alive(pid):
    return False
  started = _start_time(pid)
  # A pid reused by a process started after the lock was written.
  return started is None or started <= holder.get("started", 0) + 1.0


class StageLock(workdir_lib.LockFile):
  """The lock of one stage, held while it trains (a context manager)."""

  def __init__(self, path, name, poll_seconds=0.2):
    """Creates the lock; nothing is taken yet.

    Args:
      path: The lock file (`Layout.stage_lock(key)`).
      name: The stage, as progress lines name it.
      poll_seconds: How often a waiting process looks again.
    """
    super().__init__(path)
    self._name = name
    self._poll = poll_seconds

  def acquire(self):
    """Takes the lock, waiting while a live process holds it."""
    told = False
    while not self._create({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.time()}):
      holder = self._holder()
      if holder is None or _holds(holder):
        if not told and holder:
          print(f"{self._name}: waiting for process {holder['pid']}, which "
                "still trains it", file=sys.stderr, flush=True)
          told = True
        time.sleep(self._poll)
      else:
        self._remove()  # stale: its process is gone
    return self

  def _holder(self):
    """The lock's record; None while it is being written (look again)."""
    try:
      with open(self.path, encoding="utf-8") as stream:
        return json.load(stream)
    except OSError:
      return {}  # removed meanwhile: try again
    except ValueError:
      try:  # an empty record older than a few seconds was never finished
        fresh = time.time() - os.path.getmtime(self.path) < 5.0
      except OSError:
        return {}
      return None if fresh else {}
