"""Tests of the workdir guards: the lock, moving a run aside."""

import json
import os
import subprocess
import sys

import tensorflow as tf

from kdticket_tf.store import layout
from kdticket_tf.store import workdir


class LockTest(tf.test.TestCase):

  def test_second_holder_is_refused_with_the_running_process(self):
    folder = self.get_temp_dir()
    with workdir.WorkdirLock(folder):
      with self.assertRaisesRegex(workdir.WorkdirInUseError,
                                  f"in use by process {os.getpid()}"):
        workdir.WorkdirLock(folder).acquire()
    self.assertFalse(os.path.exists(os.path.join(folder, layout.LOCK)))

  def test_lock_of_a_dead_process_is_taken_over(self):
    folder = os.path.join(self.get_temp_dir(), "stale")
    os.makedirs(folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    import socket  # pylint: disable=g-import-not-at-top
    with open(os.path.join(folder, layout.LOCK), "w") as stream:
      json.dump({"pid": int(dead.stdout), "host": socket.gethostname()}, stream)
    lock = workdir.WorkdirLock(folder).acquire()
    with open(lock.path) as stream:
      self.assertEqual(json.load(stream)["pid"], os.getpid())
    lock.release()


class ReplaceTest(tf.test.TestCase):

  def test_replace_moves_the_run_aside(self):
    folder = os.path.join(self.get_temp_dir(), "old_run")
    os.makedirs(folder)
    with open(os.path.join(folder, layout.CONFIG), "w") as stream:
      json.dump({"a": 1}, stream)
    moved = workdir.replace(folder)
    self.assertFalse(os.path.exists(folder))
    self.assertTrue(os.path.exists(os.path.join(moved, layout.CONFIG)))
    self.assertIsNone(workdir.replace(os.path.join(self.get_temp_dir(), "none")))


if __name__ == "__main__":
  tf.test.main()
