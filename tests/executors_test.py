"""The executors: the same answers three ways, killed workers and coordinator.

* The smoke flagfile runs end to end (its sequential run): the table, the
  sparsities, the files, and output a person can read.
* The smoke flagfile with `--deterministic` and `--rewind_step=auto` (an
  instability stage before the tickets), run by the sequential executor, by
  two local worker processes (the dense run in the coordinator while they
  start) and by Ray tasks (the kd ticket of its first level: a process per
  stage), ends with the same masks, weights, instability table and results,
  bit for bit. The three runs go side by side (each answer is independent of
  the load under `--deterministic`).
* Local workers killed with SIGKILL in the middle of a stage: the stage runs
  once more (resuming from its last epoch) and the search ends as if nothing
  happened (the bit-for-bit comparison covers that run).
* The local run's coordinator killed with SIGKILL in the middle of a stage: its
  workers are gone within seconds, the stage's last epoch checkpoint is kept,
  and the resumed run continues that stage from it (the same run again).
* A worker that cannot start says so; a dead worker is replaced; a lone stage
  runs in the coordinator while no worker has started, unless the workers
  train on GPUs.

A failed stage skipping the stages that need it is tested in reliability_test;
the stage lock (no stage trained by two live processes) in stage_lock_test.
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

from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.run import local_workers as local_executor
from kdticket_tf.run import outcomes
from kdticket_tf.search import worker
from kdticket_tf.training import divergence
from tests import testing

# The instability analysis runs first on every executor: rewind_step=auto
# with one candidate (the flagfile's 5it), always stable under a threshold of
# 100 points, so the tickets are the smoke flagfile's.
SMOKE = ("--flagfile=configs/smoke.flags", "--deterministic", "--noexport",
         "--rewind_step=auto", "--instability_steps=5it",
         "--stability_threshold=100", "--instability_points=3")
# The stage whose workers are killed, and the one whose coordinator is.
WORKERS_KILLED_IN = "rewind/level_01"
COORDINATOR_KILLED_IN = "kd/level_02"
# The Ray run's subset of the sequential run's stages.
RAY = ("--executor=ray", "--levels=1", "--recipes=kd")


def _rows(workdir):
  with open(os.path.join(workdir, "results.json")) as stream:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.load(stream)]


def _instability_rows(workdir):
  with open(os.path.join(workdir, "instability.json")) as stream:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.load(stream)["rows"]]


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


def _alive(pid):
  """Whether `pid` runs (a zombie does not)."""
  try:
    with open(f"/proc/{pid}/stat") as stream:
      return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def _wait_for(path, process, deadline):
  while not os.path.exists(path):
    assert process.poll() is None, f"the run ended before {path} appeared"
    assert time.time() < deadline, f"{path} never appeared"
    time.sleep(0.02)


def _killed_run(workdir):
  """The local run of the smoke flagfile, its workers and then its
  coordinator killed with SIGKILL mid-stage, resumed; returns what it saw."""
  command = (*SMOKE, f"--workdir={workdir}", "--executor=local", "--workers=2")
  process = testing.run_cli(*command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
  seen = {}
  deadline = time.time() + 600
  epochs = lambda stage: os.path.join(workdir, stage, "epochs")
  try:
    # Both workers killed while the second stage of level 1 trains: each
    # stage they ran is run once more.
    _wait_for(os.path.join(epochs(WORKERS_KILLED_IN), "epoch_0001.json"),
              process, deadline)
    seen["workers_killed"] = _workers_of(process.pid)
    for pid in seen["workers_killed"]:
      os.kill(pid, signal.SIGKILL)
    # The coordinator killed while a stage of level 2 trains its second epoch.
    epoch = os.path.join(epochs(COORDINATOR_KILLED_IN), "epoch_0001.json")
    _wait_for(epoch, process, deadline)
    orphans = _workers_of(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    while any(map(_alive, orphans)) and time.monotonic() < killed + 60:
      time.sleep(0.05)
    seen["orphans"] = orphans
    seen["orphans_seconds"] = time.monotonic() - killed
    seen["orphans_alive"] = [p for p in orphans if _alive(p)]
    seen["epoch_1"] = artifacts.read_json(epoch)[0]
    stage = os.path.join(workdir, COORDINATOR_KILLED_IN)
    seen["checkpoints"] = sorted(os.listdir(os.path.join(stage,
                                                         "checkpoints")))
    seen["finished_before_resume"] = os.path.exists(
        os.path.join(stage, "metrics.json"))
    lock = os.path.join(stage, layout_lib.LOCK)
    seen["lock"] = artifacts.read_json(lock) if os.path.exists(lock) else None
  finally:
    if process.poll() is None:
      process.kill()
    stdout, stderr = process.communicate(timeout=60)
  seen["first"] = subprocess.CompletedProcess(process.args, process.returncode,
                                              stdout, stderr)
  # Resumed on one worker (the stages left are few): the workers of a run
  # are not part of its config.
  seen["resumed"] = testing.run_cli(*command[:-1], "--workers=1", timeout=900)
  return seen


class ExecutorsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_executors_")

    def run(name):
      workdir = os.path.join(cls.folder, name)
      if name == "local":
        return name, (workdir, _killed_run(workdir))
      # Ray starts a process for every stage: it runs the dense network, the
      # instability analysis and the first kd ticket, which reads both.
      extra = RAY if name == "ray" else ()
      return name, (workdir, testing.run_cli(*SMOKE, f"--workdir={workdir}",
                                             *extra))

    # Side by side (Ray's start-up and the kills leave cores idle);
    # --deterministic makes each answer independent of the load.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
      cls.runs = dict(pool.map(run, ["local", "sequential", "ray"]))
    workdir, cls.seen = cls.runs["local"]
    cls.runs["local"] = (workdir, cls.seen["resumed"])

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
    for name, levels, recipes in (("local", 2, ("lt", "rewind", "kd")),
                                  ("ray", 1, ("kd",))):
      workdir, result = self.runs[name]
      self.assertEqual(result.returncode, 0, f"{name}: {result.stderr[-3000:]}")
      # Every file of its stages equals the sequential run's.
      self.assertEqual(testing.npz_differences(workdir, reference), [], name)
      self.assertEqual(_rows(workdir), [
          r for r in _rows(reference) if r["level"] <= levels and
          r["recipe"] in ("dense", *recipes)], name)
      tables = ("rewind_choice.json", "results.md") if levels == 2 else (
          "rewind_choice.json",)
      for table in tables:
        with open(os.path.join(workdir, table)) as a, \
             open(os.path.join(reference, table)) as b:
          self.assertEqual(a.read(), b.read(), f"{name}: {table}")
      self.assertEqual(_instability_rows(workdir),
                       _instability_rows(reference), name)
      self.assertLen(_instability_rows(workdir), 1)
      self.assertLen(glob.glob(os.path.join(workdir, "*", "level_0*",
                                            "masks.npz")),
                    len(recipes) * levels)
    # The local run has every file of the sequential one.
    self.assertEqual(testing.npz_differences(reference, self.runs["local"][0]),
                     [])

  def test_a_killed_worker_runs_its_stage_again_and_nothing_is_lost(self):
    first = self.seen["first"]
    self.assertLen(self.seen["workers_killed"], 2)
    self.assertRegex(first.stderr, rf"{WORKERS_KILLED_IN}: its worker "
                     r"\(pid \d+\) died \(killed by signal 9 \(SIGKILL\)\); "
                     "running it once more")
    self.assertIn("| 2 | 64.0 |", self.seen["resumed"].stdout)  # it finished

  def test_a_killed_coordinator_s_workers_stop_and_its_stage_resumes(self):
    seen = self.seen
    self.assertEqual(seen["first"].returncode, -signal.SIGKILL)
    # Its workers are gone within seconds, not at the end of their stages.
    self.assertLen(seen["orphans"], 2)
    self.assertEqual(seen["orphans_alive"], [])
    self.assertLess(seen["orphans_seconds"], 5.0)
    # The stage was cut short; its lock names a worker now dead, its first
    # epoch's checkpoint is kept.
    self.assertFalse(seen["finished_before_resume"])
    self.assertIn(seen["lock"]["pid"], seen["orphans"])
    self.assertIn("ckpt-1.index", seen["checkpoints"])
    # The resumed run took the stale lock and went on from that epoch: the
    # stage's history keeps the first epoch as the killed worker recorded it.
    resumed = seen["resumed"]
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
    self.assertRegex(resumed.stderr, r"Resuming: \d+ of 8 stages had finished")
    self.assertNotIn("waiting for process", resumed.stderr)
    workdir = self.runs["local"][0]
    history = artifacts.read_json(os.path.join(
        workdir, COORDINATOR_KILLED_IN, "metrics.json"))["history"]
    self.assertLen(history, 2)
    self.assertEqual(history[0], seen["epoch_1"])
    self.assertFalse(os.path.exists(os.path.join(
        workdir, COORDINATOR_KILLED_IN, layout_lib.LOCK)))

  def test_one_clean_line_per_stage_with_what_runs_and_the_time_left(self):
    first, resumed = self.seen["first"].stderr, self.seen["resumed"].stderr
    stages = [tuple(l.split()[:3:2])
              for l in (first + resumed).splitlines() if " level " in l]
    # Every stage once at most (one the coordinator died before recording
    # prints none: the resumed run finds it finished).
    self.assertLen(set(stages), len(stages), first + resumed)
    self.assertBetween(len(stages), 6, 8)
    self.assertRegex(first, r"(?m)^dense +level 0/2 .* about \d+s left")
    self.assertRegex(first, r"running: (lt|rewind|kd)/level_0[12]")
    for output in (first, resumed):
      self.assertNotIn("Traceback", output)
      self.assertNotIn("cuInit", output)


class _Runner:
  """A stand-in for the coordinator's `StageRunner`."""

  def __init__(self, workdir):
    self.layout = layout_lib.Layout(workdir)
    self.ran = []

  def run(self, key):
    self.ran.append((key, os.getpid()))
    return {"recipe": key.recipe, "level": key.level}


class _FailingRunner(_Runner):
  """A runner whose stage raises `error`."""

  def __init__(self, workdir, error):
    super().__init__(workdir)
    self.error = error

  def run(self, key):
    raise self.error


class OutcomesTest(tf.test.TestCase):

  def test_a_worker_reports_a_stage_s_write_error_and_divergence_whole(self):
    # What local workers and Ray tasks send back (`run_in_worker`): the
    # stage named in a write error, a diverged training's sentence as it is.
    key = layout_lib.StageKey("kd", 2)
    full = artifacts.WriteError(28, "No space left on device", "/w/x.npz")
    outcome = outcomes.run_in_worker(
        _FailingRunner(self.get_temp_dir(), full), key)
    self.assertEqual(outcome.error,
                     "Could not write /w/x.npz for stage kd/level_02: [Errno "
                     "28] No space left on device; free space and rerun to "
                     "resume.")
    diverged = divergence.TrainingDivergedError("Training of kd/level_02 ...")
    outcome = outcomes.run_in_worker(
        _FailingRunner(self.get_temp_dir(), diverged), key)
    self.assertEqual((outcome.row, outcome.failure, outcome.error),
                     (None, None, "Training of kd/level_02 ..."))


class LocalWorkersTest(tf.test.TestCase):

  def test_a_worker_that_cannot_start_says_so_and_a_dead_one_is_replaced(self):
    # A worker that cannot start (no config.json here) says so and ends; the
    # stage waiting for it gets its error, and a worker found dead is
    # replaced.
    executor = local_executor.LocalExecutor(self.get_temp_dir(), workers=1,
                                            environments=[{}],
                                            start_worker=worker.start)
    executor.start()
    self.addCleanup(executor.close, abort=True)
    first, second = layout_lib.StageKey("lt", 1), layout_lib.StageKey("lt", 2)
    executor.submit(first)
    [outcome] = executor.wait()
    self.assertEqual(outcome.key, first)
    self.assertStartsWith(outcome.error, "A worker could not start")
    pid = executor.pids()[0]
    executor.submit(second)
    self.assertEqual(executor.wait(), [])  # a dead worker: another starts
    self.assertEqual(executor.running(), [second])
    self.assertNotEqual(executor.pids()[0], pid)


  def test_a_lone_stage_runs_here_while_the_workers_start(self):
    runner = _Runner(self.get_temp_dir())
    executor = local_executor.LocalExecutor(self.get_temp_dir(), workers=1,
                                            environments=[{}],
                                            start_worker=worker.start,
                                            runner=runner)
    executor.start()
    self.addCleanup(executor.close, abort=True)
    executor.submit(layout_lib.DENSE_KEY)
    [outcome] = executor.wait()
    self.assertEqual(outcome.row, {"recipe": "dense", "level": 0})
    self.assertEqual(runner.ran, [(layout_lib.DENSE_KEY, os.getpid())])
    self.assertFalse(os.path.exists(runner.layout.stage_lock(
        layout_lib.DENSE_KEY)))  # held while it ran, then released

  def test_workers_on_gpus_run_every_stage_themselves(self):
    runner = _Runner(self.get_temp_dir())
    executor = local_executor.LocalExecutor(
        self.get_temp_dir(), workers=1,
        environments=[{"CUDA_VISIBLE_DEVICES": "0"}],
        start_worker=worker.start, runner=runner)
    executor.start()
    self.addCleanup(executor.close, abort=True)
    executor.submit(layout_lib.DENSE_KEY)
    [outcome] = executor.wait()
    self.assertStartsWith(outcome.error, "A worker could not start")
    self.assertEqual(runner.ran, [])


if __name__ == "__main__":
  tf.test.main()
