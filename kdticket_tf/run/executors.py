"""Executors: where the stages of a search run.

* `SequentialExecutor`: one stage at a time in this process, in the graph's
  order (the dense run, then level by level).
* `LocalExecutor` (`local_executor.py`): N worker processes on this machine,
  each running one ready stage at a time, with its share of the CPU threads
  and its own GPUs.
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
import os
import sys
import traceback
from typing import Optional

from kdticket_tf.store import layout as layout_lib
from kdticket_tf import logs
from kdticket_tf.run import stage_lock
from kdticket_tf.store import workdir as workdir_lib

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


def run_stage(runner, key):
  """Runs `key` with `runner` (a `StageRunner`), holding the stage's lock.

  Whichever process trains a stage holds its lock, so no stage is trained by
  two live processes at once (see `stage_lock.py`).
  """
  with stage_lock.StageLock(runner.layout.stage_lock(key), str(key)):
    return runner.run(key)


def run_in_worker(runner, key):
  """Runs `key` with `runner` inside a worker; returns an `Outcome`."""
  try:
    return Outcome(key, row=run_stage(runner, key))
  except _USER_ERRORS as error:
    return Outcome(key, error=str(error))
  except Exception as error:  # pylint: disable=broad-except
    traceback.print_exc(file=sys.stderr)
    return Outcome(key, failure=f"{type(error).__name__}: {error}")


def start_worker(workdir, environment, verbose):
  """Prepares a fresh worker process: environment, TensorFlow, the runner."""
  # A workdir it cannot run fails here, before TensorFlow's slow start.
  config = workdir_lib.read_config(workdir)
  os.environ.update(environment)  # read by TensorFlow when it starts
  logs.start_tensorflow(verbose)
  # Imported once TensorFlow has started with this worker's threads.
  from kdticket_tf.search import stages  # pylint: disable=g-import-not-at-top
  return stages.from_workdir(workdir, config)


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
    return [Outcome(key, row=run_stage(self._runner, key))]

  def close(self, abort=False):
    del abort


def _ray_stage(workdir, key_text, environment, verbose):
  """A Ray task: runs one stage in a fresh worker process."""
  key = layout_lib.StageKey.parse(key_text)
  try:
    runner = start_worker(workdir, environment, verbose)
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
