"""Crash, concurrency and failure tests of the command line (issue: reliability).

* A deterministic run killed with SIGKILL in the middle of a pruned level and
  started again finishes with the same masks, weights and results as a run that
  was never interrupted.
* A corrupt masks file is reported by path and nothing written before changes.
* A second run on a workdir in use is refused; a stale lock is taken over.
* A level whose loss becomes non-finite stops the search, on local workers
  too, with one sentence naming it; it is not recorded, the rest is kept.
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_ARGS = (
    "--dataset=synthetic", "--synthetic_shape=28,28,1",
    "--synthetic_examples=2048", "--batch_size=32", "--model=lenet_300_100",
    "--lr=0.05", "--levels=2", "--recipes=lt,rewind", "--rewind_step=10it",
    "--deterministic", "--noexport", "--verbose=0")


def _command(workdir, *extra):
  return [sys.executable, "-m", "kdticket_tf.train", f"--workdir={workdir}",
          *BASE_ARGS, *extra]


def _env():
  return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")


def _run(workdir, *extra, timeout=600):
  return subprocess.run(_command(workdir, *extra), cwd=ROOT, env=_env(),
                        capture_output=True, text=True, timeout=timeout,
                        check=False)


def _wait_for(path, process, timeout=300):
  deadline = time.time() + timeout
  while not os.path.exists(path):
    if process.poll() is not None or time.time() > deadline:
      raise AssertionError(f"{path} never appeared (exit {process.poll()}).")
    time.sleep(0.02)


def _snapshot(folder):
  digests = {}
  for path in sorted(glob.glob(os.path.join(folder, "**"), recursive=True)):
    if os.path.isfile(path):
      with open(path, "rb") as stream:
        digests[os.path.relpath(path, folder)] = hashlib.sha256(
            stream.read()).hexdigest()
  return digests


def _rows(workdir):
  with open(os.path.join(workdir, "results.json")) as stream:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.load(stream)]


class KillAndResumeTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_reliability_")
    cls.reference = os.path.join(cls.folder, "reference")
    result = _run(cls.reference, "--epochs=3")
    assert result.returncode == 0, result.stderr[-3000:]
    # The same run, killed in the middle of the rewind recipe's first level.
    cls.killed = os.path.join(cls.folder, "killed")
    process = subprocess.Popen(_command(cls.killed, "--epochs=3"), cwd=ROOT,
                               env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
      _wait_for(os.path.join(cls.killed, "rewind", "level_01", "epochs",
                             "epoch_0001.json"), process)
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.folder, ignore_errors=True)
    super().tearDownClass()

  def test_killed_run_resumes_to_identical_masks_and_results(self):
    level = os.path.join(self.killed, "rewind", "level_01")
    self.assertFalse(os.path.exists(os.path.join(level, "metrics.json")),
                     "the kill was meant to land inside the level")
    resumed = os.path.join(self.folder, "resumed")
    shutil.copytree(self.killed, resumed)
    result = _run(resumed, "--epochs=3")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertEqual(_rows(resumed), _rows(self.reference))
    for name in ("masks.npz", "final.weights.npz"):
      for recipe in ("lt", "rewind"):
        for level_number in (1, 2):
          paths = [os.path.join(w, recipe, f"level_{level_number:02d}", name)
                   for w in (self.reference, resumed)]
          with np.load(paths[0]) as a, np.load(paths[1]) as b:
            self.assertEqual(a.files, b.files)
            for key in a.files:
              self.assertAllEqual(a[key], b[key], msg=f"{paths[1]} {key}")

  def test_corrupt_masks_file_is_reported_and_nothing_changes(self):
    corrupt = os.path.join(self.folder, "corrupt")
    shutil.copytree(self.killed, corrupt)
    masks = os.path.join(corrupt, "rewind", "level_01", "masks.npz")
    with open(masks, "r+b") as stream:
      stream.truncate(100)
    before = _snapshot(corrupt)
    result = _run(corrupt, "--epochs=3")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(f"{masks} is corrupt", result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    after = _snapshot(corrupt)
    # Every earlier file is unchanged (but flags.txt, which names the
    # workdir); the only new files are the TensorBoard event files this
    # attempt opened.
    kept = {k: v for k, v in before.items() if k != "flags.txt"}
    self.assertEqual({k: after.get(k) for k in kept}, kept)
    self.assertTrue(all(k.startswith("tensorboard/") for k in set(after) -
                        set(before)), sorted(set(after) - set(before)))


class LockTest(tf.test.TestCase):

  def test_second_run_refused_and_stale_lock_taken_over(self):
    workdir = os.path.join(self.get_temp_dir(), "locked")
    process = subprocess.Popen(_command(workdir, "--epochs=400"), cwd=ROOT,
                               env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
      _wait_for(os.path.join(workdir, "dense", "epochs", "epoch_0001.json"),
                process)
      process.send_signal(signal.SIGSTOP)  # alive, holding the lock, idle
      second = _run(workdir, "--epochs=400")
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()
    self.assertNotEqual(second.returncode, 0)
    self.assertIn(f"in use by process {process.pid}", second.stderr)
    self.assertTrue(os.path.exists(os.path.join(workdir, ".lock")))
    # The holder is dead: the next run takes the lock over. Its other seed is
    # then refused by the config check, which runs under the lock.
    third = _run(workdir, "--epochs=400", "--seed=1")
    self.assertIn("--seed: 0 -> 1", third.stderr)
    self.assertNotIn("in use by process", third.stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, ".lock")))


class NonFiniteLossTest(tf.test.TestCase):

  def test_diverging_level_stops_the_search_and_the_rest_is_kept(self):
    # On two local workers: the error comes back from the worker whole.
    workdir = os.path.join(self.get_temp_dir(), "diverge")
    result = _run(workdir, "--epochs=2", "--recipes=lt,finetune",
                  "--finetune_lr=1e30", "--executor=local", "--workers=2")
    self.assertNotEqual(result.returncode, 0)
    self.assertRegex(
        result.stderr,
        r"kdticket_tf.train: error: Training of finetune/level_01 diverged at "
        r"step 64 \(.*\); the likely causes are NaN or Inf in the inputs "
        r"\(fix them and rerun to resume\) or a learning rate too high "
        r"\(--finetune_lr=1e\+30; lower it in another workdir, or overwrite "
        r"this one\)\.\n")
    self.assertNotIn("Traceback", result.stderr)
    # The dense run is kept (and lt level 1, if it finished first); nothing
    # of the diverged level is recorded, and no later level ran.
    rows = {(r["recipe"], r["level"]): r["status"] for r in _rows(workdir)}
    self.assertEqual(rows[("dense", 0)], "done")
    self.assertLessEqual(set(rows), {("dense", 0), ("lt", 1)})
    self.assertEqual(set(rows.values()), {"done"})
    self.assertFalse(os.path.exists(os.path.join(
        workdir, "finetune", "level_01", "metrics.json")))


if __name__ == "__main__":
  tf.test.main()
