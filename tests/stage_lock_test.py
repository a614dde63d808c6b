"""The stage lock: one live trainer per stage.

* Taken and released: the lock file names this process while held.
* A live holder is waited for (said once), and its lock taken when it ends;
  so a stage is never trained by two live processes at once.
* A holder that is gone, or whose pid now names a process started after the
  lock was written, is taken over at once.
* A lock being written (an empty file, seconds old) is waited for.
"""

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from absl.testing import absltest

from kdticket_tf.run import stage_lock


def _write(path, pid, started):
  with open(path, "w", encoding="utf-8") as stream:
    json.dump({"pid": pid, "host": socket.gethostname(), "started": started},
              stream)


class StageLockTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    folder = tempfile.mkdtemp(prefix="kdticket_stage_lock_")
    self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
    self.path = os.path.join(folder, "lt", "level_01", ".lock")

  def test_held_names_this_process_and_is_released(self):
    with stage_lock.StageLock(self.path, "lt/level_01"):
      with open(self.path, encoding="utf-8") as stream:
        self.assertEqual(json.load(stream)["pid"], os.getpid())
    self.assertFalse(os.path.exists(self.path))

  def test_a_live_holder_is_waited_for_then_taken_over(self):
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; time.sleep(1.0)"])
    self.addCleanup(holder.wait)
    os.makedirs(os.path.dirname(self.path))
    _write(self.path, holder.pid, time.time())
    # The holder is our child: reap it as soon as it ends, so its pid is gone.
    threading.Thread(target=holder.wait, daemon=True).start()
    started = time.monotonic()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
      with stage_lock.StageLock(self.path, "lt/level_01", poll_seconds=0.05):
        self.assertIsNotNone(holder.poll())  # taken only once it ended
    self.assertGreater(time.monotonic() - started, 0.5)
    self.assertEqual(stderr.getvalue().count(
        f"lt/level_01: waiting for process {holder.pid}, which still trains "
        "it"), 1)

  def test_a_dead_holder_is_taken_over_at_once(self):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True)
    os.makedirs(os.path.dirname(self.path))
    _write(self.path, int(dead.stdout), time.time())
    started = time.monotonic()
    with stage_lock.StageLock(self.path, "lt/level_01"):
      self.assertLess(time.monotonic() - started, 1.0)

  def test_a_pid_reused_after_the_lock_was_written_is_not_its_holder(self):
    newer = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(30)"])
    self.addCleanup(newer.wait)
    self.addCleanup(newer.kill)
    os.makedirs(os.path.dirname(self.path))
    _write(self.path, newer.pid, time.time() - 3600)  # an hour-old lock
    started = time.monotonic()
    with stage_lock.StageLock(self.path, "lt/level_01"):
      self.assertLess(time.monotonic() - started, 1.0)
    self.assertIsNone(newer.poll())

  def test_a_lock_being_written_is_waited_for(self):
    os.makedirs(os.path.dirname(self.path))
    open(self.path, "w").close()  # created, its record not yet written
    threading.Timer(0.5, os.remove, [self.path]).start()
    started = time.monotonic()
    with stage_lock.StageLock(self.path, "lt/level_01", poll_seconds=0.05):
      self.assertGreater(time.monotonic() - started, 0.4)


if __name__ == "__main__":
  absltest.main()
