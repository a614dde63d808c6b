"""The local executor: N worker processes on this machine.

Each worker starts fresh (spawned: its own TensorFlow with its share of the
CPU threads and its own GPUs), rebuilds the search's data and model from the
workdir, says it is ready, and runs the stages it is sent one at a time.

* A stage goes only to a worker that has started, so no worker idles while a
  stage waits for another one to start.
* A lone stage with nothing else running (the dense run, at the start) trains
  in the coordinator, which holds the data and the model already, while the
  workers start; only when the workers train on the CPU, as it does.
* A worker that dies has its stage run once more (from its last epoch
  checkpoint); a second death fails the stage.
* A worker dies within a second of its coordinator (`PR_SET_PDEATHSIG` on
  Linux, and a thread watching the parent everywhere): its stage stops at
  once, its finished epochs kept for the resumed run. The stage lock
  (`stage_lock.py`) keeps a run resumed meanwhile from training beside it.

Importing this module does not import TensorFlow.
"""

import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing import connection as mp_connection

from kdticket_tf.run import outcomes

_READY = "ready"  # what a worker says once it has started
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its
                       # parent dies


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


def _local_worker(workdir, environment, verbose, start_worker, channel,
                  coordinator):
  """A local worker process: runs the stages it is sent until it gets None.

  It says `_READY` once started, then answers each stage with an `Outcome`.
  """
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops it
  _stop_with_coordinator(coordinator)
  try:
    runner = start_worker(workdir, environment, verbose)
  except Exception as error:  # pylint: disable=broad-except
    channel.send(outcomes.Outcome(
        None, error=f"A worker could not start: {error}"))
    return
  channel.send(_READY)
  while True:
    try:
      key = channel.recv()
    except (EOFError, OSError):
      key = None  # the coordinator died: stop, as the kernel is about to
    if key is None:
      # Every stage it ran is on disk (files and TensorBoard runs closed at
      # each stage's end): skip TensorFlow's slow teardown.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(0)  # pylint: disable=protected-access
    channel.send(outcomes.run_in_worker(runner, key))


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

  def __init__(self, workdir, workers, environments, start_worker, verbose=0,
               runner=None):
    """Creates the executor.

    Args:
      workdir: The workdir (its `config.json` is what workers run).
      workers: Number of worker processes.
      environments: One dict of environment variables per worker (threads,
        `CUDA_VISIBLE_DEVICES`).
      start_worker: `start_worker(workdir, environment, verbose)` prepares a
        worker process and returns the runner of its stages (a module-level
        function: it is sent to the spawned processes).
      verbose: The run's verbosity (2 keeps TensorFlow's logs in workers).
      runner: The coordinator's `StageRunner`, to run a lone stage here while
        no worker has started; None runs every stage on workers.
    """
    self._workdir = workdir
    self._environments = environments
    self._start_worker = start_worker
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
        args=(self._workdir, self._environments[index], self._verbose,
              self._start_worker, theirs, os.getpid()),
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
        return [outcomes.run_in_worker(self._runner, self._held.pop())]
      watched = [w for w in self._workers
                 if w.key is not None or (self._held and not w.ready)]
      arrived = [w for w in watched if w.message is not None]
      if not arrived:
        waiting = {w.channel: w for w in watched}
        waiting.update({w.process.sentinel: w for w in watched})
        ready = mp_connection.wait(list(waiting))
        arrived = list({id(waiting[r]): waiting[r] for r in ready}.values())
      found, died = [], False
      for worker in arrived:
        alive = worker.read()
        if worker.message is not None:
          if worker.key is None and not self._held:
            continue  # kept for the stage it will be given
          message, worker.message = worker.message, None
          key = worker.key if worker.key is not None else self._held.pop(0)
          worker.key = None
          found.append(dataclasses.replace(message, key=key))
        elif not alive or not worker.process.is_alive():
          worker.process.join()
          died = True
          found.extend(self._lost(worker))
      if found or died:
        return found

  def _lost(self, worker):
    """A worker died: its stage, if it ran one, runs once more elsewhere."""
    index = self._workers.index(worker)
    key, cause = worker.key, _death(worker.process)
    self._spawn(index)
    if key is None:
      self._start_deaths += 1
      if self._start_deaths > 2 * len(self._workers) and self._held:
        return [outcomes.Outcome(self._held.pop(0), error=(
            f"Local workers keep dying while they start (the last "
            f"{cause}); see the lines above."))]
      print(f"A worker (pid {worker.process.pid}) died while starting "
            f"({cause}); starting another", file=sys.stderr, flush=True)
      return []
    if key in self._retried:
      return [outcomes.Outcome(key, failure=f"its worker died twice ({cause})")]
    self._retried.add(key)
    print(f"{key}: its worker (pid {worker.process.pid}) died ({cause}); "
          "running it once more", file=sys.stderr, flush=True)
    self._held.insert(0, key)
    return []

  def close(self, abort=False):
    """Stops the workers (at once when `abort`; a stopped stage resumes later).

    A worker still starting holds no stage and nothing written: it is stopped
    at once rather than waited for until TensorFlow has started in it.
    """
    for worker in self._workers:
      starting = worker.read() and not worker.ready and worker.key is None
      if abort or starting:
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
