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

import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing import connection as mp_connection
from typing import Optional

from kdticket_tf import layout as layout_lib
from kdticket_tf import logs
from kdticket_tf import stage_lock

NAMES = ("sequential", "local", "ray")
# Errors a user must fix: the search stops on them, whichever stage meets them.
_USER_ERRORS = (ValueError, OSError)
_READY = "ready"  # what a local worker says once it has started
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its
                       # parent dies


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
    return [Outcome(key, row=run_stage(self._runner, key))]

  def close(self, abort=False):
    del abort


def _stop_with_coordinator(coordinator):
  """Kills this worker within a second of its coordinator's death.

  On Linux the kernel sends SIGKILL when the coordinator dies
  (`PR_SET_PDEATHSIG`); everywhere, a thread looks at the parent's pid twice a
  second. The stage stops where it is: its finished epochs are checkpointed,
  and the resumed run continues from the last one.
  """
  if sys.platform.startswith("linux"):
    try:
      ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG,
                                              signal.SIGKILL)
    except (OSError, AttributeError):
      pass

  def watch():
    while os.getppid() == coordinator:
      time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)

  threading.Thread(target=watch, name="coordinator-watch", daemon=True).start()


def _local_worker(workdir, environment, verbose, channel, coordinator):
  """A local worker process: runs the stages it is sent until it gets None.

  It says `_READY` once started, then answers each stage with an `Outcome`.
  """
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops it
  _stop_with_coordinator(coordinator)
  try:
    runner = _start_worker(workdir, environment, verbose)
  except Exception as error:  # pylint: disable=broad-except
    channel.send(Outcome(None, error=f"A worker could not start: {error}"))
    return
  channel.send(_READY)
  while True:
    key = channel.recv()
    if key is None:
      # Every stage it ran is on disk (files and TensorBoard runs closed at
      # each stage's end): skip TensorFlow's slow teardown.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(0)  # pylint: disable=protected-access
    channel.send(run_in_worker(runner, key))


def _death(process):
  code = process.exitcode
  if code is not None and code < 0:
    return f"killed by signal {-code} ({signal.Signals(-code).name})"
  return f"exit status {code}"


class _Worker:
  """A local worker process as the coordinator sees it."""

  def __init__(self, process, channel):
    self.process = process
    self.channel = channel
    self.key = None  # the stage it runs
    self.ready = False  # it has started and said so
    self.message = None  # an outcome it sent, not yet returned

  def read(self):
    """Reads what the worker sent; returns False once its pipe has ended.

    A killed worker's end of the pipe reads as end of file, or as a reset
    connection when it died with bytes unread.
    """
    try:
      while self.message is None and self.channel.poll():
        message = self.channel.recv()
        if message == _READY:
          self.ready = True
        else:
          self.message = message
    except (EOFError, OSError):
      return False
    return True


class LocalExecutor:
  """N worker processes on this machine, one stage each at a time.

  A stage goes to a worker that has started (imported TensorFlow, built the
  data); until one has, a stage waits. Given the coordinator's own runner, a
  lone stage with nothing else running (the dense run at the start) runs in
  this process while the workers start, so it does not wait for them; this
  is only done when the workers train on the CPU, as this process does.
  """

  def __init__(self, workdir, workers, environments, verbose=0, runner=None):
    """Creates the executor.

    Args:
      workdir: The workdir (its `config.json` is what workers run).
      workers: Number of worker processes.
      environments: One dict of environment variables per worker (threads,
        `CUDA_VISIBLE_DEVICES`).
      verbose: The run's verbosity (2 keeps TensorFlow's logs in workers).
      runner: The coordinator's `StageRunner`, to run a lone stage here while
        no worker has started; None runs every stage on workers.
    """
    self._workdir = workdir
    self._environments = environments
    self._verbose = verbose
    self._context = multiprocessing.get_context("spawn")
    self._workers = [None] * workers
    self._held = []  # stages waiting for a started worker
    self._retried = set()
    self._start_deaths = 0
    on_gpus = any(e.get("CUDA_VISIBLE_DEVICES") for e in environments)
    self._runner = None if on_gpus else runner
    self.slots = workers

  def _spawn(self, index):
    ours, theirs = self._context.Pipe()
    process = self._context.Process(
        target=_local_worker, name=f"kdticket_tf-worker-{index}",
        args=(self._workdir, self._environments[index], self._verbose, theirs,
              os.getpid()),
        daemon=True)
    process.start()
    theirs.close()
    self._workers[index] = _Worker(process, ours)

  def start(self):
    for index in range(len(self._workers)):
      self._spawn(index)

  def pids(self):
    """Returns the worker processes' ids."""
    return [worker.process.pid for worker in self._workers]

  def free_slots(self):
    return sum(w.key is None for w in self._workers) - len(self._held)

  def submit(self, key):
    self._held.append(key)
    self._dispatch()

  def running(self):
    return [w.key for w in self._workers if w.key is not None] + self._held

  def _dispatch(self):
    """Sends the waiting stages to idle workers that have started."""
    for worker in self._workers:
      if not self._held:
        return
      if worker.key is None:
        worker.read()
        if worker.ready and worker.message is None:
          worker.key = self._held.pop(0)
          try:
            worker.channel.send(worker.key)
          except OSError:
            pass  # the worker is gone: wait() sees its end

  def wait(self):
    """Waits for a stage to end or a worker to die; returns outcomes."""
    while True:
      self._dispatch()
      busy = [w for w in self._workers if w.key is not None]
      if (self._runner is not None and len(self._held) == 1 and not busy and
          not any(w.ready for w in self._workers)):
        return [run_in_worker(self._runner, self._held.pop())]
      watched = [w for w in self._workers
                 if w.key is not None or (self._held and not w.ready)]
      arrived = [w for w in watched if w.message is not None]
      if not arrived:
        waiting = {w.channel: w for w in watched}
        waiting.update({w.process.sentinel: w for w in watched})
        ready = mp_connection.wait(list(waiting))
        arrived = list({id(waiting[r]): waiting[r] for r in ready}.values())
      outcomes, died = [], False
      for worker in arrived:
        alive = worker.read()
        if worker.message is not None:
          if worker.key is None and not self._held:
            continue  # kept for the stage it will be given
          message, worker.message = worker.message, None
          key = worker.key if worker.key is not None else self._held.pop(0)
          worker.key = None
          outcomes.append(dataclasses.replace(message, key=key))
        elif not alive or not worker.process.is_alive():
          worker.process.join()
          died = True
          outcomes.extend(self._lost(worker))
      if outcomes or died:
        return outcomes

  def _lost(self, worker):
    """A worker died: its stage, if it ran one, runs once more elsewhere."""
    index = self._workers.index(worker)
    key, cause = worker.key, _death(worker.process)
    self._spawn(index)
    if key is None:
      self._start_deaths += 1
      if self._start_deaths > 2 * len(self._workers) and self._held:
        return [Outcome(self._held.pop(0), error=(
            f"Local workers keep dying while they start (the last "
            f"{cause}); see the lines above."))]
      print(f"A worker (pid {worker.process.pid}) died while starting "
            f"({cause}); starting another", file=sys.stderr, flush=True)
      return []
    if key in self._retried:
      return [Outcome(key, failure=f"its worker died twice ({cause})")]
    self._retried.add(key)
    print(f"{key}: its worker (pid {worker.process.pid}) died ({cause}); "
          "running it once more", file=sys.stderr, flush=True)
    self._held.insert(0, key)
    return []

  def close(self, abort=False):
    """Stops the workers (at once when `abort`; a stopped stage resumes later)."""
    for worker in self._workers:
      if abort:
        worker.process.terminate()
      else:
        try:
          worker.channel.send(None)
        except OSError:
          pass
    for worker in self._workers:
      worker.process.join(timeout=None if not abort else 30)
      if worker.process.is_alive():
        worker.process.kill()
      worker.channel.close()


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
