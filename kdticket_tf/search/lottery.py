"""The coordinator of a lottery search: check, walk the stage graph, record.

`Lottery.run()` takes the workdir's lock, checks and records the configuration,
then hands the ready stages of the search's graph (`graph.py`) to an executor
(`executors.py`: in this process, on local worker processes, or as Ray tasks)
and records each result as it arrives: `results.json/.csv/.md`, the plot, the
TensorBoard summary and a progress line. Stages themselves (`stages.py`) write
only their own folders (see `layout.py` for the workdir). A finished stage is
never recomputed; rerunning the command resumes the search. `api.py` builds
one (`prepare`, `find_tickets`, ...).
"""

import dataclasses
import os
import sys
import time

from absl import logging

from kdticket_tf.store import artifacts
from kdticket_tf.search import checks
from kdticket_tf import config as config_lib
from kdticket_tf.run import strategies as distribute_lib
from kdticket_tf.run import executors
from kdticket_tf.search import graph as graph_lib
from kdticket_tf.instability import graph as instability_graph
from kdticket_tf.instability import report as instability_report
from kdticket_tf.instability import stage as instability_stage
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.run import local_workers as local_executor
from kdticket_tf.report import plots
from kdticket_tf.training import recipes as recipes_lib
from kdticket_tf.report import results
from kdticket_tf.config import settings
from kdticket_tf.search import stages
from kdticket_tf.report import summaries
from kdticket_tf.store import workdir as workdir_lib
from kdticket_tf.data import pipeline


# While a search runs, its plot is redrawn at most this often (drawing it takes
# about 0.4 s, a sizeable part of a small stage); always at the search's end.
PLOT_EVERY_SECONDS = 60.0


class LotteryFailedError(RuntimeError):
  """One or more stages failed; their rows in the results say why."""


@dataclasses.dataclass
class Lottery:
  """A lottery ticket search over one model and dataset.

  Attributes:
    model_fn: Returns a fresh, uncompiled tf_keras model (logits output).
    data: The `LotteryData`.
    config: The `LotteryConfig` (its `data` and `model` fields are only
      recorded; `model_fn` and `data` are what runs in this process, and what
      worker processes rebuild from the registry).
    workdir: Where everything is written.
    strategy: The `tf.distribute.Strategy` (default: from `config.distribute`).
  """
  model_fn: object
  data: pipeline.LotteryData
  config: config_lib.LotteryConfig
  workdir: str
  strategy: object = None

  def __post_init__(self):
    strategy = self.strategy or distribute_lib.make_strategy(
        self.config.distribute.strategy)
    self._chief = distribute_lib.is_chief(strategy)
    self.layout = layout_lib.Layout(self.workdir)
    if not self._chief:
      # Other workers compute the same stages in their own folder (their own
      # lock, config and stage folders) and write no results, exports or
      # summaries.
      self.layout = self.layout.worker(*distribute_lib.task())
      self.workdir = self.layout.workdir
    self.runner = stages.StageRunner(self.model_fn, self.data, self.config,
                                     self.layout, strategy, self._chief)
    self.graph = graph_lib.build(self.config)
    checks.check_search(self.config, self.data, self.runner, strategy)
    instability_stage.check(self.config, self.data)
    self._rows = {}
    self._started = time.time()
    self._plotted = None  # when the plot was last drawn (time.monotonic())

  # ------------------------------------------------------------ the workdir
  def _prepare_workdir(self, lock, overwrite, files):
    """Moves an old run aside if asked, checks and records the config."""
    if not os.access(self.workdir, os.W_OK):
      raise ValueError(
          f"workdir={self.workdir!r} is not writable; choose a folder you can "
          "write.")
    config_dict = settings.to_dict(self.config)
    if overwrite:
      lock.release()
      moved = workdir_lib.replace(self.workdir)
      os.makedirs(self.workdir, exist_ok=True)
      lock.acquire()
      if moved:
        logging.info("Moved the earlier run to %s", moved)
    recorded = workdir_lib.check_config(self.workdir, config_dict)
    # The experiment goes first, so a crash between the two writes repeats it
    # on resume rather than losing it; a plain resume does not write it again.
    if self._chief and recorded != config_dict:
      summaries.write_experiment(self.layout, config_dict, self.config.recipes)
    artifacts.write_json(self.layout.config, config_dict)
    artifacts.write_json(self.layout.model_info, {
        "input_shape": list(self.data.input_shape),
        "num_classes": self.data.num_classes,
        "raw_dtype": self.data.raw_dtype,
        "normalization": self.data.normalization})
    for name, text in (files or {}).items():
      artifacts.write_text(os.path.join(self.workdir, name), text)

  def run(self, overwrite=False, files=None):
    """Runs (or resumes) the whole search; returns the sorted result rows.

    Args:
      overwrite: Move an earlier run in the workdir aside and start again.
      files: Extra text files to write in the workdir, `{name: text}`.

    Raises:
      WorkdirInUseError: another live run holds the workdir.
      ConfigMismatchError: the workdir holds a run with other settings.
      LotteryFailedError: a stage failed (its row says why); the stages that
        need it were skipped, every other one ran and is kept.
    """
    lock = workdir_lib.WorkdirLock(self.workdir)
    try:
      os.makedirs(self.workdir, exist_ok=True)
      lock.acquire()
    except OSError as error:
      raise ValueError(
          f"workdir={self.workdir!r} cannot be created ({error.strerror}); "
          "choose a folder you can write.") from None
    try:
      self._prepare_workdir(lock, overwrite, files)
      return self._walk(self._executor())
    finally:
      lock.release()

  # ------------------------------------------------------------- the walk
  def _executor(self):
    settings = self.config.executor
    verbose = self.config.train.verbose
    if settings.name == "sequential":
      return executors.SequentialExecutor(self.runner)
    deterministic = self.config.train.deterministic
    if settings.name == "local":
      cores = os.cpu_count() or 1
      # Under `deterministic`, each stage keeps the threads a sequential run
      # uses (results depend on them); otherwise the cores are shared out.
      threads = settings.threads or (
          0 if deterministic else max(1, cores // settings.workers))
      # A lone stage (the dense run) runs here while the workers start,
      # unless its threads would differ from a worker's under `deterministic`.
      return local_executor.LocalExecutor(
          self.workdir, settings.workers,
          distribute_lib.worker_environments(
              settings.workers, settings.gpus_per_worker, threads),
          verbose, runner=None if deterministic and threads else self.runner)
    threads = settings.threads or (0 if deterministic else
                                   max(1, int(settings.stage_cpus)))
    # Ray gives each task its GPUs (CUDA_VISIBLE_DEVICES): only the threads.
    return executors.RayExecutor(
        self.workdir, settings.ray_address, settings.stage_cpus,
        settings.stage_gpus, distribute_lib.thread_environment(threads),
        verbose)

  def _walk(self, executor):
    # The first drawing is due a minute in (or at the end of a shorter walk).
    self._plotted = time.monotonic()
    finished = set()
    for key in self.graph.keys:
      row = stages.finished_row(self.layout, key)
      if row is not None:
        self._rows[key] = row
        if not (self.config.export.saved_model and self._chief and
                not os.path.exists(os.path.join(
                    self.layout.serving_path(key), "ticket.json"))):
          finished.add(key)
    if self._rows:
      self._write_tables()
      logging.info("Resuming: %d of %d stages had finished.", len(finished),
                   len(self.graph))
      for key in finished:
        if instability_graph.is_key(key):
          self._instability_finished(key, quiet=True)
    started, failed, skipped = set(finished), {}, {}

    def submit_ready():
      for key in self.graph.ready(finished, started)[:executor.free_slots()]:
        executor.submit(key)
        started.add(key)

    executor.start()
    try:
      while True:
        submit_ready()
        if not executor.running():
          break
        outcomes = executor.wait()
        rows = [self._settle(o, finished, failed, skipped, started)
                for o in outcomes]
        # The stages these made ready start before the tables are written
        # (the progress lines count them from the next round).
        recorded = set(started)
        submit_ready()
        for row in rows:
          self._record(row, finished, recorded, skipped)
    except BaseException:
      executor.close(abort=True)
      raise
    executor.close()
    if self._rows:
      self._write_tables(final=True)
    if failed:
      causes = "; ".join(f"{key.recipe} level {key.level}: {cause}"
                         for key, cause in failed.items())
      lost = ", ".join(f"{k.recipe} level {k.level}" for k in skipped)
      raise LotteryFailedError(
          f"{len(failed)} stage(s) failed ({causes})" +
          (f"; skipped because they need them: {lost}" if lost else "") +
          "; every other result is kept.")
    return results.sort_rows(self._search_rows(), self.config.recipes)

  def _search_rows(self):
    """The result rows of the search's own stages (no analysis stages)."""
    return [row for key, row in self._rows.items()
            if not instability_graph.is_key(key)]

  def _instability_finished(self, key, quiet=False):
    """Writes the instability tables; under `rewind_step=auto`, chooses k."""
    tickets = any(not instability_graph.is_key(k) and k.level
                  for k in self.graph.keys)
    for line in instability_report.record(
        self.layout, self.graph.keys, self.config, key.level, self._chief,
        tickets, f"{self.data.name}: instability (linear mode connectivity)"):
      if not quiet:
        logging.info("%s", line)

  def _settle(self, outcome, finished, failed, skipped, started):
    """Takes a stage's outcome; a failure skips the stages that need it.

    Returns:
      The stage's row, for `_record`.
    """
    key = outcome.key
    if outcome.error:
      raise ValueError(outcome.error)
    row = outcome.row
    if row is None:  # no row: the stage could not finish
      row = stages.failure_row(self.layout, key, outcome.failure)
    self._rows[key] = row
    if row["status"] == stages.DONE:
      finished.add(key)
      if instability_graph.is_key(key):
        # Before the stages that need it are submitted: under
        # rewind_step=auto this chooses k (or stops the search).
        self._instability_finished(key)
    else:
      failed[key] = row.get("error")
      logging.error("%s level %d failed: %s", key.recipe, key.level,
                    row.get("error"))
      for dependent in self.graph.dependents(key):
        if dependent not in skipped:
          skipped[dependent] = key
          started.add(dependent)
    return row

  def _record(self, row, finished, started, skipped):
    """Writes the tables, the stage's summary and its progress line."""
    self._write_tables()
    key = layout_lib.StageKey(row["recipe"], row["level"])
    if (self._chief and row["status"] == stages.DONE and
        not instability_graph.is_key(key)):
      metrics = artifacts.read_json(self.layout.metrics(key))
      summaries.write_stage(self.layout, settings.to_dict(self.config), row,
                            metrics.get("layers"))
    self._progress(row, finished, started, set(skipped))

  def _write_tables(self, final=False):
    """Rewrites the results tables; the plot at the end or once a minute."""
    if not self._chief:
      return
    rows = results.write(self.layout, self._search_rows(),
                         self.config.recipes)
    now = time.monotonic()
    if not final and now - self._plotted < PLOT_EVERY_SECONDS:
      return
    self._plotted = now
    plots.plot_accuracy_vs_sparsity(
        [("", rows)], self.layout.plot,
        title=f"{self.data.name}: test accuracy against sparsity")

  def _steps(self, key):
    if instability_graph.is_key(key):
      return instability_stage.training_steps(
          self.config, self.data.train.steps_per_epoch)
    return self.runner.rewind.plan(
        None if key.level == 0 else recipes_lib.get(key.recipe)).steps

  def _progress(self, row, finished, started, skipped):
    """Prints a stage's line: accuracy, stages running, time left."""
    elapsed = time.time() - self._started
    timed = [r for k, r in self._rows.items()
             if k in finished and r.get("seconds")]
    per_step = (sum(r["seconds"] for r in timed) /
                sum(self._steps(layout_lib.StageKey(r["recipe"], r["level"]))
                    for r in timed)) if timed else 0.0
    remaining = [k for k in self.graph.keys if k not in started]
    running = [k for k in started if k not in finished and
               k not in self._rows and k not in skipped]
    work = per_step * (sum(self._steps(k) for k in remaining) +
                       0.5 * sum(self._steps(k) for k in running))
    chain = self.graph.critical_path(
        lambda k: 0.0 if k in finished or k in self._rows or k in skipped
        else per_step * self._steps(k))
    left = max(work / max(1, len(running) + 1), chain)
    accuracy = row.get("test_accuracy")
    logging.info(
        "%-14s level %d/%d  weights remaining %6.2f%%  test accuracy %s  "
        "elapsed %.0fs  about %.0fs left%s", row["recipe"], row["level"],
        self.config.pruning.num_levels,
        100.0 * (row.get("weights_remaining") or 0.0),
        "n/a" if accuracy is None else f"{100.0 * accuracy:.2f}%", elapsed,
        left, f"  running: {', '.join(map(str, running))}" if running else "")
    if row.get("warning"):
      logging.warning("%s level %d: %s", row["recipe"], row["level"],
                      settings.in_flag_words(row["warning"]))
    sys.stdout.flush()

  def export_stage(self, recipe, level, base_dir=None, force=False):
    """Exports a finished stage as a servable ticket; returns its path."""
    return self.runner.export(layout_lib.StageKey(recipe, level), base_dir,
                              force)
