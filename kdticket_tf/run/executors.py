"""Executors: where the stages of a search run.

* `SequentialExecutor`: one stage at a time in this process, in the graph's
  order (the dense run, then level by level).
* `LocalExecutor` (`local_workers.py`): N worker processes on this machine,
  each running one ready stage at a time, with its share of the CPU threads
  and its own GPUs.
* `RayExecutor`: every stage is a Ray task asking for `stage_cpus` and
  `stage_gpus`, on a local Ray or on a cluster whose nodes share the workdir.

A worker runs a stage given only the workdir and the stage's key: the
`start_worker` function the coordinator hands the executor rebuilds the
search's data and model from the workdir's `config.json` (the registered
datasets and models) and returns the worker's stage runner; `make` builds the
executor a config names. The coordinator (`lottery.py`) submits ready stages and
records what `wait()` returns:

* a row: the stage finished;
* a failure: the stage could not finish (its worker died twice, or it raised
  an unexpected error); stages that need it are skipped, the others go on;
* an error: a problem the user must fix (a corrupt file, a setting that cannot
  run, a training that diverged, a file that could not be written); the search
  stops and the error is reported.

Importing this module does not import TensorFlow (Ray imports it in its
workers before a task sets their threads).
"""

import os

from kdticket_tf.run import local_workers
from kdticket_tf.run import outcomes
from kdticket_tf.run import strategies
from kdticket_tf.store import layout as layout_lib

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
    return [outcomes.Outcome(key, row=outcomes.run_stage(self._runner, key))]

  def close(self, abort=False):
    del abort


def _ray_stage(workdir, key_text, environment, verbose, start_worker):
  """A Ray task: runs one stage in a fresh worker process."""
  key = layout_lib.StageKey.parse(key_text)
  try:
    runner = start_worker(workdir, environment, verbose)
  except outcomes.USER_ERRORS as error:  # data missing on this node, say
    return outcomes.Outcome(key, error=str(error))
  return outcomes.run_in_worker(runner, key)


class RayExecutor:
  """Every stage a Ray task, on a local Ray or a cluster sharing the workdir."""

  def __init__(self, workdir, address, stage_cpus, stage_gpus, environment,
               start_worker, verbose=0):
    """Creates the executor.

    Args:
      workdir: The workdir, on storage every node sees.
      address: '' starts a local Ray; `auto` or `host:port` joins a cluster.
      stage_cpus: CPUs each stage asks for.
      stage_gpus: GPUs each stage asks for.
      environment: Environment variables of each task (threads).
      start_worker: `start_worker(workdir, environment, verbose)` prepares a
        fresh task's process and returns the runner of its stages.
      verbose: The run's verbosity.
    """
    self._workdir = os.path.abspath(workdir)
    self._start_worker = start_worker
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
                            self._verbose, self._start_worker)
    self._refs[ref] = key

  def running(self):
    return list(self._refs.values())

  def wait(self):
    ready, _ = self._ray.wait(list(self._refs), num_returns=1)
    found = []
    for ref in ready:
      key = self._refs.pop(ref)
      try:
        found.append(self._ray.get(ref))
      except self._ray.exceptions.RayTaskError as error:
        cause = error.cause if error.cause is not None else error
        found.append(outcomes.Outcome(
            key, failure=f"{type(cause).__name__}: {cause}"))
      except self._ray.exceptions.RayError as error:
        found.append(outcomes.Outcome(
            key, failure=f"its Ray worker died twice ({type(error).__name__})"))
    return found

  def close(self, abort=False):
    if abort:
      for ref in self._refs:
        self._ray.cancel(ref, force=True)
    if self._started_ray:
      self._ray.shutdown()


def _sequential(config, workdir, runner, start_worker):
  del config, workdir, start_worker
  return SequentialExecutor(runner)


def _local(config, workdir, runner, start_worker):
  settings, train = config.executor, config.train
  cores = os.cpu_count() or 1
  # Under `deterministic`, each stage keeps the threads a sequential run uses
  # (results depend on them); otherwise the cores are shared out.
  threads = settings.threads or (
      0 if train.deterministic else max(1, cores // settings.workers))
  # A lone stage (the dense run) runs here while the workers start, unless
  # its threads would differ from a worker's under `deterministic`.
  return local_workers.LocalExecutor(
      workdir, settings.workers,
      strategies.worker_environments(settings.workers,
                                     settings.gpus_per_worker, threads),
      start_worker, train.verbose,
      runner=None if train.deterministic and threads else runner)


def _ray(config, workdir, runner, start_worker):
  del runner
  settings, train = config.executor, config.train
  threads = settings.threads or (0 if train.deterministic else
                                 max(1, int(settings.stage_cpus)))
  # Ray gives each task its GPUs (CUDA_VISIBLE_DEVICES): only the threads.
  return RayExecutor(workdir, settings.ray_address, settings.stage_cpus,
                     settings.stage_gpus,
                     strategies.thread_environment(threads), start_worker,
                     train.verbose)


# The executors, by `ExecutorConfig.name`: the one list of their names.
_MAKERS = {"sequential": _sequential, "local": _local, "ray": _ray}
NAMES = tuple(_MAKERS)


def make(config, workdir, runner, start_worker):
  """Returns the executor `config.executor` names, for one search.

  Args:
    config: The `LotteryConfig`.
    workdir: The search's workdir.
    runner: The coordinator's `StageRunner` (runs stages in this process).
    start_worker: `start_worker(workdir, environment, verbose)` prepares a
      worker process and returns its `StageRunner`.
  """
  return _MAKERS[config.executor.name](config, workdir, runner, start_worker)
