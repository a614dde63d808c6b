"""The executors: the same answers three ways, a killed worker, a failed stage.

* The smoke flagfile runs end to end (its sequential run): the table, the
  sparsities, the files, and output a person can read.
* The smoke flagfile with `--deterministic`, run by the sequential executor, by
  two local worker processes and by Ray tasks, ends with the same masks,
  weights and results, bit for bit.
* Local workers killed with SIGKILL in the middle of a stage: the stage runs
  once more (resuming from its last epoch) and the search ends as if nothing
  happened (the bit-for-bit comparison covers that run).
* A worker that ended with a stage unread (its pipe then reads as a reset
  connection) is a dead worker, not an error that stops the search.

A failed stage skipping the stages that need it is tested in reliability_test.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import tensorflow as tf

from kdticket_tf import executors
from kdticket_tf import layout as layout_lib
from tests import testing

SMOKE = ("--flagfile=configs/smoke.flags", "--deterministic", "--noexport")


def _rows(workdir):
  with open(os.path.join(workdir, "results.json")) as stream:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.load(stream)]


def _workers_of(pid):
  """Returns the pids of the local worker processes a coordinator started."""
  found = []
  for stat in glob.glob("/proc/[0-9]*/stat"):
    try:
      with open(stat) as stream:
        fields = stream.read().rsplit(")", 1)[1].split()
      with open(stat.replace("stat", "cmdline"), "rb") as stream:
        command = stream.read()
    except OSError:
      continue
    if int(fields[1]) == pid and b"spawn_main" in command:
      found.append(int(stat.split("/")[2]))
  return found


class ExecutorsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_executors_")

    def run(name, *extra):
      workdir = os.path.join(cls.folder, name)
      return name, (workdir, testing.run_cli(*SMOKE, f"--workdir={workdir}",
                                             *extra))

    # The sequential run and the Ray run side by side (Ray's start-up leaves
    # a core idle); --deterministic makes each answer independent of the load.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
      cls.runs = dict(pool.map(lambda args: run(*args),
                               [("sequential",), ("ray", "--executor=ray")]))
    # Two local workers, both killed with SIGKILL while the second stage of
    # level 1 trains: each stage they ran is run once more.
    workdir = os.path.join(cls.folder, "local")
    process = testing.run_cli(*SMOKE, f"--workdir={workdir}",
                              "--executor=local", "--workers=2",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    marker = os.path.join(workdir, "rewind", "level_01", "epochs",
                          "epoch_0001.json")
    deadline = time.time() + 600
    while not os.path.exists(marker) and process.poll() is None:
      assert time.time() < deadline, "the local run never reached the kill"
      time.sleep(0.02)
    cls.killed = _workers_of(process.pid)
    for pid in cls.killed:
      os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=900)
    cls.runs["local"] = (workdir, subprocess.CompletedProcess(
        process.args, process.returncode, stdout, stderr))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.folder, ignore_errors=True)
    super().tearDownClass()

  def test_the_smoke_flagfile_runs_end_to_end_with_clean_output(self):
    workdir, result = self.runs["sequential"]
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("| level | % weights remaining | lt | rewind | kd |",
                  result.stdout)
    rows = _rows(workdir)
    self.assertEqual({(r["recipe"], r["level"]) for r in rows},
                     {("dense", 0)} | {(r, l) for r in ("lt", "rewind", "kd")
                                       for l in (1, 2)})
    for row in rows:
      self.assertNear(row["sparsity"], 1 - 0.8**row["level"], 0.005)
      self.assertBetween(row["test_accuracy"], 0.3, 1.0)
    # A person reads this output: no TensorFlow start-up lines, no absl prefix.
    output = result.stdout + result.stderr
    for noise in ("cuda", "cuInit", "oneDNN", "absl::InitializeLog",
                  "lottery.py:"):
      self.assertNotIn(noise, output)
    self.assertNotRegex(output, r"(?m)^[IWEF]\d{4} ")
    self.assertRegex(output, r"(?m)^kd +level 2/2 +weights remaining  64\.00%")
    for name in ("config.json", "flags.txt", "results.csv", "results.md",
                 "dense/init.weights.npz", "dense/rewind.weights.npz",
                 "lt/level_02/masks.npz", "kd/level_01/final.weights.npz"):
      self.assertTrue(os.path.exists(os.path.join(workdir, name)), name)

  def test_every_executor_gives_the_sequential_answers_bit_for_bit(self):
    reference, result = self.runs["sequential"]
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    for name in ("local", "ray"):
      workdir, result = self.runs[name]
      self.assertEqual(result.returncode, 0, f"{name}: {result.stderr[-3000:]}")
      self.assertEqual(testing.npz_differences(reference, workdir), [], name)
      self.assertEqual(_rows(workdir), _rows(reference), name)
      with open(os.path.join(workdir, "results.md")) as a, \
           open(os.path.join(reference, "results.md")) as b:
        self.assertEqual(a.read(), b.read(), name)
      self.assertLen(glob.glob(os.path.join(workdir, "*", "level_0*",
                                            "masks.npz")), 6)

  def test_a_killed_worker_runs_its_stage_again_and_nothing_is_lost(self):
    _, result = self.runs["local"]
    self.assertLen(self.killed, 2)
    self.assertRegex(result.stderr, r"rewind/level_01: its worker \(pid \d+\) "
                     r"died \(killed by signal 9 \(SIGKILL\)\); running it "
                     "once more")
    self.assertIn("| 2 | 64.0 |", result.stdout)  # and the search finished

  def test_one_clean_line_per_stage_with_what_runs_and_the_time_left(self):
    _, result = self.runs["local"]
    lines = [l for l in result.stderr.splitlines() if " level " in l]
    self.assertLen(lines, 7, result.stderr)
    self.assertRegex(result.stderr, r"(?m)^dense +level 0/2 .* about \d+s left")
    self.assertRegex(result.stderr, r"running: (lt|rewind|kd)/level_0[12]")
    self.assertNotIn("Traceback", result.stderr)
    self.assertNotIn("cuInit", result.stdout + result.stderr)


class DeadWorkerTest(tf.test.TestCase):

  def test_a_worker_gone_with_a_stage_unread_is_a_dead_worker(self):
    # A worker that cannot start (no config.json here) says so and ends
    # without reading the stage it was sent; its pipe then reads as a reset
    # connection, as a worker killed with a stage unread does.
    executor = executors.LocalExecutor(self.get_temp_dir(), workers=1,
                                       environments=[{}])
    executor.start()
    self.addCleanup(executor.close, abort=True)
    first, second = layout_lib.StageKey("lt", 1), layout_lib.StageKey("lt", 2)
    executor.submit(first)
    [outcome] = executor.wait()
    self.assertEqual(outcome.key, first)
    self.assertStartsWith(outcome.error, "A worker could not start")
    pid = executor.pids()[0]
    executor.submit(second)
    self.assertEqual(executor.wait(), [])  # a dead worker: the stage runs again
    self.assertEqual(executor.running(), [second])
    self.assertNotEqual(executor.pids()[0], pid)


if __name__ == "__main__":
  tf.test.main()
