"""The coordinator of a lottery search: check, walk the stage graph, record.

`Lottery.run()` takes the workdir's lock, checks and records the configuration,
then hands the ready stages of the search's graph (`graph.py`) to an executor
(`run/executors.py`: in this process, on local worker processes, or as Ray
tasks) and records each result as it arrives: `results.json/.csv/.md`, the
plot, the TensorBoard summary and a progress line. Stages themselves
(`stages.py`, each by its kind, `kinds.py`) write only their own folders (see
`store/layout.py` for the workdir); what a kind adds once one of its stages is
done (the instability analysis's tables) its `finished` writes. A finished
stage is never recomputed; rerunning the command resumes the search.
`api.py` builds one (`prepare`, `find_tickets`, ...).
"""

import dataclasses
import os
import sys
import time

from absl import logging

from kdticket_tf import config as config_lib
from kdticket_tf.config import recorded
from kdticket_tf.config import settings
from kdticket_tf.data import pipeline
from kdticket_tf.report import plots
from kdticket_tf.report import results
from kdticket_tf.report import summaries
from kdticket_tf.run import executors
from kdticket_tf.run import strategies as distribute_lib
from kdticket_tf.search import checks
from kdticket_tf.search import graph as graph_lib
from kdticket_tf.search import kinds
from kdticket_tf.search import progress
from kdticket_tf.search import stage_rows
from kdticket_tf.search import stages
from kdticket_tf.search import worker
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import workdir as workdir_lib


# While a search runs, its plot is redrawn at most this often (drawing it takes
# about 0.4 s, a sizeable part of a small stage); always at the search's end.
PLOT_EVERY_SECONDS = 60.0


class LotteryFailedError(RuntimeError):
  """One or more stages failed; their rows in the results say why."""


def _prepare_workdir(search, lock, overwrite, files):
  """Moves an old run aside if asked, checks and records the config."""
  if not os.access(search.workdir, os.W_OK):
    raise ValueError(
        f"workdir={search.workdir!r} is not writable; choose a folder you can "
        "write.")
  config_dict = settings.to_dict(search.config)
  if overwrite:
    lock.release()
    moved = workdir_lib.replace(search.workdir)
    os.makedirs(search.workdir, exist_ok=True)
    lock.acquire()
    if moved:
      logging.info("Moved the earlier run to %s", moved)
  known = recorded.check_config(search.workdir, config_dict)
  # The experiment goes first, so a crash between the two writes repeats it
  # on resume rather than losing it; a plain resume does not write it again.
  if search.chief and known != config_dict:
    summaries.write_experiment(search.layout, config_dict,
                               search.config.recipes)
  artifacts.write_json(search.layout.config, config_dict)
  data = search.data
  artifacts.write_json(search.layout.model_info, {
      "input_shape": list(data.input_shape),
      "num_classes": data.num_classes,
      "raw_dtype": data.raw_dtype,
      "normalization": data.normalization})
  for name, text in (files or {}).items():
    artifacts.write_text(os.path.join(search.workdir, name), text)


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
    self.chief = distribute_lib.is_chief(strategy)
    self.layout = layout_lib.Layout(self.workdir)
    if not self.chief:
      # Other workers compute the same stages in their own folder (their own
      # lock, config and stage folders) and write no results, exports or
      # summaries.
      self.layout = self.layout.worker(*distribute_lib.task())
      self.workdir = self.layout.workdir
    self.runner = stages.StageRunner(self.model_fn, self.data, self.config,
                                     self.layout, strategy, self.chief)
    self.graph = graph_lib.build(self.config)
    checks.check_search(self.config, self.data, self.runner, strategy)
    for kind in kinds.KINDS:
      kind.check(self.config, self.data)
    self._rows = {}
    self._started = time.time()
    self._plotted = None  # when the plot was last drawn (time.monotonic())

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
      _prepare_workdir(self, lock, overwrite, files)
      return self._walk(executors.make(self.config, self.workdir, self.runner,
                                      worker.start))
    finally:
      lock.release()

  # ------------------------------------------------------------- the walk
  def _walk(self, executor):
    # The first drawing is due a minute in (or at the end of a shorter walk).
    self._plotted = time.monotonic()
    finished = set()
    for key in self.graph.keys:
      row = stage_rows.finished_row(self.layout, key)
      if row is not None:
        self._rows[key] = row
        if not (kinds.of(key).result and self.config.export.saved_model and
                self.chief and not os.path.exists(self.layout.ticket(key))):
          finished.add(key)
    if self._rows:
      self._write_tables()
      logging.info("Resuming: %d of %d stages had finished.", len(finished),
                   len(self.graph))
      for key in finished:
        kinds.of(key).finished(self, key, quiet=True)
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
    return [row for key, row in self._rows.items() if kinds.of(key).result]

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
      row = stage_rows.failure_row(self.layout, key, outcome.failure)
    self._rows[key] = row
    if row["status"] == stage_rows.DONE:
      finished.add(key)
      # Before the stages that need it are submitted (the instability
      # analysis chooses k under rewind_step=auto, or stops the search).
      kinds.of(key).finished(self, key)
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
    if (self.chief and row["status"] == stage_rows.DONE and
        kinds.of(key).result):
      metrics = artifacts.read_json(self.layout.metrics(key))
      summaries.write_stage(self.layout, settings.to_dict(self.config), row,
                            metrics.get("layers"))
    self._progress(row, finished, started, set(skipped))

  def _write_tables(self, final=False):
    """Rewrites the results tables; the plot at the end or once a minute."""
    if not self.chief:
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

  def _progress(self, row, finished, started, skipped):
    """Prints a stage's line: accuracy, stages running, time left."""
    logging.info("%s", progress.line(
        row, self.config.pruning.num_levels, time.time() - self._started,
        progress.time_left(self.graph, self._rows, self.runner.steps,
                           finished, started, skipped)))
    if row.get("warning"):
      logging.warning("%s level %d: %s", row["recipe"], row["level"],
                      settings.in_flag_words(row["warning"]))
    sys.stdout.flush()

  def export_stage(self, recipe, level, base_dir=None, force=False):
    """Exports a finished stage as a servable ticket; returns its path."""
    return self.runner.export(layout_lib.StageKey(recipe, level), base_dir,
                              force)
