"""Executors: where the stages of a search run.

* `SequentialExecutor`: one stage at a time in this process, in the graph's
  order (the dense run, then level by level).
* `LocalExecutor`: N worker processes on this machine, each running one ready
  stage at a time, with its share of the CPU threads and its own GPUs.
* `RayExecutor`: every stage is a Ray task asking for `stage_cpus` and
  `stage_gpus`, on a local Ray or on a cluster whose nodes share the workdir.

A worker runs a stage given only the workdir and the stage's key: it rebuilds
the search's data and model from the workdir's `config.json` (the registered
datasets and models). The coordinator (`lottery.py`) submits ready stages and
records what `wait()` returns:

* a row (the stage finished, or its training diverged: the row says so);
* a failure: the stage could not finish (its worker died twice, or it raised
  an unexpected error); stages that need it are skipped, the others go on;
* an error: a problem the user must fix (a corrupt file, a setting that cannot
  run); the search stops and the error is reported.

Importing this module does not import TensorFlow (Ray imports it in its
workers before a task sets their threads).
"""

import dataclasses
import multiprocessing
import os
import signal
import sys
import traceback
from multiprocessing import connection as mp_connection
from typing import Optional

from kdticket_tf import layout as layout_lib
from kdticket_tf import logs

NAMES = ("sequential", "local", "ray")
# Errors a user must fix: the search stops on them, whichever stage meets them.
_USER_ERRORS = (ValueError, OSError)


@dataclasses.dataclass
class Outcome:
  """What became of a submitted stage.

  Attributes:
    key: The stage.
    row: Its result row (finished, or failed by a diverging loss).
    failure: Why it could not finish, when it has no row.
    error: A problem the user must fix; the search stops.
  """
  key: layout_lib.StageKey
  row: Optional[dict] = None
  failure: Optional[str] = None
  error: Optional[str] = None


def run_in_worker(runner, key):
  """Runs `key` with `runner` inside a worker; returns an `Outcome`."""
  try:
    return Outcome(key, row=runner.run(key))
  except _USER_ERRORS as error:
    return Outcome(key, error=str(error))
  except Exception as error:  # pylint: disable=broad-except
    traceback.print_exc(file=sys.stderr)
    return Outcome(key, failure=f"{type(error).__name__}: {error}")


def _start_worker(workdir, environment, verbose):
  """Prepares a fresh worker process: environment, TensorFlow, the runner."""
  os.environ.update(environment)  # read by TensorFlow when it starts
  logs.start_tensorflow(verbose)
  # Imported once TensorFlow has started with this worker's threads.
  from kdticket_tf import stages  # pylint: disable=g-import-not-at-top
  return stages.from_workdir(workdir)


class SequentialExecutor:
  """Runs one stage at a time in this process."""

  def __init__(self, runner):
    self._runner = runner
    self._queue = []
    self.slots = 1

  def start(self):
    pass

  def free_slots(self):
    return self.slots - len(self._queue)

  def submit(self, key):
    self._queue.append(key)

  def running(self):
    return list(self._queue)

  def wait(self):
    """Runs the submitted stage; its errors propagate as they are."""
    key = self._queue.pop(0)
    return [Outcome(key, row=self._runner.run(key))]

  def close(self, abort=False):
    del abort


def _local_worker(workdir, environment, verbose, channel):
  """A local worker process: runs the stages it is sent until it gets None."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops it
  try:
    runner = _start_worker(workdir, environment, verbose)
  except Exception as error:  # pylint: disable=broad-except
    channel.send(Outcome(None, error=f"A worker could not start: {error}"))
    return
  while True:
    key = channel.recv()
    if key is None:
      return
    channel.send(run_in_worker(runner, key))


def _receive(channel):
  """A worker's outcome if it sent one, else None (it died first).

  A killed worker's end of the pipe reads as end of file, or as a reset
  connection when it died with bytes unread: both mean no outcome.
  """
  try:
    return channel.recv() if channel.poll() else None
  except (EOFError, OSError):
    return None


def _death(process):
  code = process.exitcode
  if code is not None and code < 0:
    return f"killed by signal {-code} ({signal.Signals(-code).name})"
  return f"exit status {code}"


class LocalExecutor:
  """N worker processes on this machine, one stage each at a time."""

  def __init__(self, workdir, workers, environments, verbose=0):
    """Creates the executor.

    Args:
      workdir: The workdir (its `config.json` is what workers run).
      workers: Number of worker processes.
      environments: One dict of environment variables per worker (threads,
        `CUDA_VISIBLE_DEVICES`).
      verbose: The run's verbosity (2 keeps TensorFlow's logs in workers).
    """
    self._workdir = workdir
    self._environments = environments
    self._verbose = verbose
    self._context = multiprocessing.get_context("spawn")
    self._workers = [None] * workers  # (process, channel, key or None)
    self._retried = set()
    self.slots = workers

  def _spawn(self, index):
    ours, theirs = self._context.Pipe()
    process = self._context.Process(
        target=_local_worker, name=f"kdticket_tf-worker-{index}",
        args=(self._workdir, self._environments[index], self._verbose, theirs),
        daemon=True)
    process.start()
    theirs.close()
    self._workers[index] = [process, ours, None]

  def start(self):
    for index in range(len(self._workers)):
      self._spawn(index)

  def pids(self):
    """Returns the worker processes' ids."""
    return [worker[0].pid for worker in self._workers]

  def free_slots(self):
    return sum(1 for worker in self._workers if worker[2] is None)

  def submit(self, key):
    worker = next(w for w in self._workers if w[2] is None)
    worker[2] = key
    try:
      worker[1].send(key)
    except OSError:
      pass  # the worker is gone: wait() sees its end and what it said

  def running(self):
    return [w[2] for w in self._workers if w[2] is not None]

  def wait(self):
    """Waits for a stage to end or a worker to die; returns outcomes."""
    busy = [w for w in self._workers if w[2] is not None]
    waiting = {w[1]: w for w in busy}
    waiting.update({w[0].sentinel: w for w in busy})
    ready = mp_connection.wait(list(waiting))
    outcomes = []
    for worker in {id(waiting[r]): waiting[r] for r in ready}.values():
      process, channel, key = worker
      outcome = _receive(channel)
      if outcome is not None:
        worker[2] = None
        outcomes.append(dataclasses.replace(outcome, key=key))
        continue
      process.join()
      outcomes.extend(self._lost(worker))
    return outcomes

  def _lost(self, worker):
    """A worker died running a stage: retry the stage once in a new worker."""
    index = self._workers.index(worker)
    key, cause = worker[2], _death(worker[0])
    self._spawn(index)
    if key in self._retried:
      return [Outcome(key, failure=f"its worker died twice ({cause})")]
    self._retried.add(key)
    print(f"{key}: its worker (pid {worker[0].pid}) died ({cause}); "
          "running it once more", file=sys.stderr, flush=True)
    self.submit(key)
    return []

  def close(self, abort=False):
    """Stops the workers (at once when `abort`; a stopped stage resumes later)."""
    for process, channel, _ in self._workers:
      if abort:
        process.terminate()
      else:
        try:
          channel.send(None)
        except OSError:
          pass
    for process, channel, _ in self._workers:
      process.join(timeout=None if not abort else 30)
      if process.is_alive():
        process.kill()
      channel.close()


def _ray_stage(workdir, key_text, environment, verbose):
  """A Ray task: runs one stage in a fresh worker process."""
  key = layout_lib.StageKey.parse(key_text)
  try:
    runner = _start_worker(workdir, environment, verbose)
  except _USER_ERRORS as error:  # data missing on this node, say
    return Outcome(key, error=str(error))
  return run_in_worker(runner, key)


class RayExecutor:
  """Every stage a Ray task, on a local Ray or a cluster sharing the workdir."""

  def __init__(self, workdir, address, stage_cpus, stage_gpus, environment,
               verbose=0):
    """Creates the executor.

    Args:
      workdir: The workdir, on storage every node sees.
      address: '' starts a local Ray; `auto` or `host:port` joins a cluster.
      stage_cpus: CPUs each stage asks for.
      stage_gpus: GPUs each stage asks for.
      environment: Environment variables of each task (threads).
      verbose: The run's verbosity.
    """
    self._workdir = os.path.abspath(workdir)
    self._address = address
    self._cpus = stage_cpus
    self._gpus = stage_gpus
    self._environment = environment
    self._verbose = verbose
    self._refs = {}
    self._ray = None
    self._task = None
    self._started_ray = False
    self.slots = 1

  def start(self):
    import ray  # pylint: disable=g-import-not-at-top
    self._ray = ray
    if not ray.is_initialized():
      options = dict(include_dashboard=False, logging_level="ERROR",
                     log_to_driver=self._verbose >= 2)
      if self._address:
        ray.init(address=self._address, **options)
      else:
        ray.init(num_cpus=os.cpu_count(), **options)
      self._started_ray = True
    cpus = ray.cluster_resources().get("CPU", 1)
    gpus = ray.cluster_resources().get("GPU", 0)
    self.slots = max(1, int(cpus // self._cpus))
    if self._gpus:
      self.slots = min(self.slots, max(1, int(gpus // self._gpus)))
    # A fresh process per stage (max_calls=1): TensorFlow's threads are set
    # before it starts, and no state leaks from one stage to the next. A task
    # whose worker dies is run once more (max_retries=1).
    self._task = ray.remote(num_cpus=self._cpus, num_gpus=self._gpus,
                            max_calls=1, max_retries=1)(_ray_stage)

  def free_slots(self):
    return self.slots - len(self._refs)

  def submit(self, key):
    ref = self._task.remote(self._workdir, str(key), self._environment,
                            self._verbose)
    self._refs[ref] = key

  def running(self):
    return list(self._refs.values())

  def wait(self):
    ready, _ = self._ray.wait(list(self._refs), num_returns=1)
    outcomes = []
    for ref in ready:
      key = self._refs.pop(ref)
      try:
        outcomes.append(self._ray.get(ref))
      except self._ray.exceptions.RayTaskError as error:
        cause = error.cause if error.cause is not None else error
        outcomes.append(Outcome(key, failure=f"{type(cause).__name__}: "
                                f"{cause}"))
      except self._ray.exceptions.RayError as error:
        outcomes.append(Outcome(
            key, failure=f"its Ray worker died twice ({type(error).__name__})"))
    return outcomes

  def close(self, abort=False):
    if abort:
      for ref in self._refs:
        self._ray.cancel(ref, force=True)
    if self._started_ray:
      self._ray.shutdown()
