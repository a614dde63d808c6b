"""The level loop: dense run, prune, retrain each recipe, record, resume.

Workdir layout (every file written atomically; a stage whose `metrics.json` says
`done` is never recomputed, an interrupted stage resumes from its last epoch):

    config.json                  the resolved configuration
    results.json / .csv / .md    one row per (recipe, level), rewritten as they finish
    dense/                       level 0
      init.weights.npz           θ0
      rewind.weights.npz         θk (the rewind step)
      final.weights.npz          θT
      metrics.json               row, per-epoch history
      checkpoints/ epochs/       resume state
    <recipe>/level_01/ ...       one folder per recipe and level
      masks.npz                  the level's masks (1 kept, 0 pruned)
      final.weights.npz          the trained ticket (pruned weights exactly 0)
      metrics.json, checkpoints/, epochs/
"""

import dataclasses
import os
import re
import shutil
import time
import zlib

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl import logging

from kdticket_tf import artifacts
from kdticket_tf import config as config_lib
from kdticket_tf import distill
from kdticket_tf import distribute as distribute_lib
from kdticket_tf import export as export_lib
from kdticket_tf import plots
from kdticket_tf import recipes as recipes_lib
from kdticket_tf import results
from kdticket_tf import summaries
from kdticket_tf import training
from kdticket_tf import workdir as workdir_lib
from kdticket_tf.data import pipeline
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import weights as weights_lib
from kdticket_tf.pruning import wrapper

DENSE_DIR = "dense"
DONE = "done"
MODEL_INFO = "model.json"
PLOT_NAME = "accuracy_vs_sparsity.png"


class LotteryFailedError(RuntimeError):
  """One or more levels failed; their rows in the results say why."""


def level_dir(workdir, recipe, level):
  """Returns the folder of `recipe` at `level` (level 0 is the dense run)."""
  if level == 0:
    return os.path.join(workdir, DENSE_DIR)
  return os.path.join(workdir, recipe, f"level_{level:02d}")


def _remove_resume_state(folder):
  """Deletes epoch checkpoints once a stage's results are written."""
  for name in ("checkpoints", "epochs"):
    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def _finished_row(folder):
  """Returns the result row of a finished stage, or None if it has not finished."""
  path = os.path.join(folder, "metrics.json")
  if not os.path.exists(path):
    return None
  metrics = artifacts.read_json(path)
  return metrics["row"] if metrics.get("status") == DONE else None


def compile_classifier(model, optimizer, **options):
  """Compiles a logits model with sparse cross-entropy and accuracy.

  Args:
    model: The model.
    optimizer: A fresh optimizer.
    **options: More `compile` arguments (`jit_compile`, `steps_per_execution`).
  """
  model.compile(
      optimizer=optimizer,
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
      **options)


def _check_rewind_step_is_observable(rewind_step, step, steps_per_epoch,
                                     per_call):
  """Refuses a rewind step k at which Keras never returns from a call.

  With `steps_per_execution` N, Keras runs each epoch in calls of N steps (the
  last call of an epoch may be shorter) and restarts the count at every epoch,
  so the weights can be read after step k only when k ends an epoch or
  (k mod steps per epoch) is a multiple of N.
  """
  within = step % steps_per_epoch
  if within == 0 or within % per_call == 0:
    return
  below = step - within % per_call
  above = min(step + per_call - within % per_call, step - within + steps_per_epoch)
  raise ValueError(
      f"rewind_step={rewind_step} ({step} steps) falls inside a call of "
      f"steps_per_execution={per_call} steps (calls restart at each epoch of "
      f"{steps_per_epoch} steps), so θk could not be saved after it; use "
      f"{below}it or {above}it, a whole number of epochs, or "
      "steps_per_execution=1.")


class SaveWeightsAtStep(keras.callbacks.Callback):
  """Saves the base model's weights after optimizer step `step` (θk)."""

  def __init__(self, base_model, step, steps_per_epoch, path):
    super().__init__()
    self._base = base_model
    self._step = step
    self._steps_per_epoch = steps_per_epoch
    self._path = path
    self._epoch = 0

  def _implements_train_batch_hooks(self):
    # Epoch-aligned steps need no per-batch hook: the train loop stays free of
    # Python calls between steps.
    return self._step % self._steps_per_epoch != 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def _save_if_due(self, step):
    if step == self._step and not os.path.exists(self._path):
      weights_lib.save_model_weights(self._path, self._base)

  def on_train_batch_end(self, batch, logs=None):
    self._save_if_due(self._epoch * self._steps_per_epoch + batch + 1)

  def on_epoch_end(self, epoch, logs=None):
    self._save_if_due((epoch + 1) * self._steps_per_epoch)


@dataclasses.dataclass
class Lottery:
  """A lottery ticket search over one model and dataset.

  Attributes:
    model_fn: Returns a fresh, uncompiled tf_keras model (logits output).
    data: The `LotteryData`.
    config: The `LotteryConfig` (its `data` and `model` fields are only
      recorded; `model_fn` and `data` are what runs).
    workdir: Where everything is written.
    strategy: The `tf.distribute.Strategy` (default: from `config.distribute`).
  """
  model_fn: object
  data: pipeline.LotteryData
  config: config_lib.LotteryConfig
  workdir: str
  strategy: object = None

  def __post_init__(self):
    self._steps_per_epoch = self.data.train.steps_per_epoch
    self._total_steps = self.config.train.total_steps(self._steps_per_epoch)
    self._rewind_step = self.config.pruning.rewind_step.to_steps(
        self._steps_per_epoch)
    if self._rewind_step >= self._total_steps and any(
        recipes_lib.get(r).uses_rewind_point for r in self.config.recipes):
      raise ValueError(
          f"rewind_step={self.config.pruning.rewind_step} is "
          f"{self._rewind_step} steps, not before the end of training "
          f"({self._total_steps} steps); choose a smaller rewind step.")
    _check_rewind_step_is_observable(
        self.config.pruning.rewind_step, self._rewind_step,
        self._steps_per_epoch, self.config.train.steps_per_execution)
    distilled = any(recipes_lib.get(r).distill for r in self.config.recipes)
    if distilled and self.config.distill.cache_teacher_logits:
      self.data.train.check_extra_allowed()
    if distilled and self.config.distill.teacher not in ("dense",
                                                         "previous_level"):
      distill.check_teacher_path(self.config.distill.teacher)
    self._check_layer_patterns()
    self._strategy = self.strategy or distribute_lib.make_strategy(
        self.config.distribute.strategy)
    replicas = self._strategy.num_replicas_in_sync
    batch_size = getattr(self.data.train, "batch_size", None)
    if batch_size and batch_size % replicas:
      raise ValueError(
          f"batch_size={batch_size} is not divisible by the {replicas} "
          f"replicas of strategy={self.config.distribute.strategy!r}; the flag "
          f"is the global batch, use a multiple of {replicas}.")
    self._chief = distribute_lib.is_chief(self._strategy)
    if not self._chief:
      # Other workers compute the same stages in their own folder and write no
      # results, exports or summaries.
      self.workdir = distribute_lib.worker_dir(self.workdir)
    self._rows = {}
    self._started = time.time()
    self._lock = None

  # ---------------------------------------------------------------- models
  def _build(self, seed):
    keras.utils.set_random_seed(seed)
    model = self.model_fn()
    if not isinstance(model, keras.Model):
      raise ValueError(
          f"model_fn returned {type(model).__name__}, not a tf_keras Model; "
          "import kdticket_tf before TensorFlow so tf.keras is tf_keras.")
    return model

  def _check_layer_patterns(self):
    """Refuses per-layer pruning fractions that match no prunable layer."""
    patterns = [p for p, _ in self.config.pruning.layer_fractions]
    if not patterns:
      return
    names = [name for name, _ in self._prunable_info(wrapper.wrap_model(
        self._build(self.config.train.seed), self.config.pruning.keep_dense))]
    for pattern in patterns:
      if not any(re.fullmatch(pattern, name) for name in names):
        raise ValueError(
            f"layer_prune_fractions pattern {pattern!r} matches none of the "
            f"prunable layers ({', '.join(names)}); give a regex that matches "
            "a whole layer name.")

  def _wrapped(self, base):
    wrapped = wrapper.wrap_model(base, self.config.pruning.keep_dense)
    training.add_weight_decay(wrapped, self.config.train.weight_decay)
    return wrapped

  def _prunable_info(self, wrapped):
    return [(name, w) for name, w, _ in wrapper.prunable_variables(wrapped)]

  # ------------------------------------------------------------ dense run
  def run_dense(self):
    """Trains the dense network (level 0) unless it is done; returns its row."""
    folder = level_dir(self.workdir, None, 0)
    finished = _finished_row(folder)
    if finished:
      return finished
    started = time.time()
    base = self._build(self.config.train.seed)
    init_path = os.path.join(folder, "init.weights.npz")
    if os.path.exists(init_path):
      weights_lib.load_model_weights(init_path, base)
    else:
      weights_lib.save_model_weights(init_path, base)
    rewind_path = os.path.join(folder, "rewind.weights.npz")
    callbacks = []
    if self._rewind_step == 0:
      if not os.path.exists(rewind_path):
        weights_lib.save_model_weights(rewind_path, base)
    else:
      callbacks.append(SaveWeightsAtStep(base, self._rewind_step,
                                         self._steps_per_epoch, rewind_path))
    training.add_weight_decay(base, self.config.train.weight_decay)
    if self._chief:
      callbacks.append(summaries.epoch_callback(self.workdir, results.DENSE, 0))
    history = training.train(
        base, self.data, self.config.train,
        training.TrainingPlan(steps=self._total_steps), folder,
        compile_classifier, callbacks=callbacks, evaluate=self._evaluate_sets())
    weights_lib.save_model_weights(os.path.join(folder, "final.weights.npz"),
                                   base)
    row = self._row(results.DENSE, 0, 0.0, history, started)
    artifacts.write_json(os.path.join(folder, "metrics.json"),
                         {"status": DONE, "row": row, "history": history})
    _remove_resume_state(folder)
    if self._chief:
      summaries.write_stage(self.workdir, config_lib.to_dict(self.config), row)
    return row

  def _evaluate_sets(self):
    return {"test": self.data.test, "validation": self.data.validation}

  # ---------------------------------------------------------------- masks
  def _previous_masks(self, recipe, level, wrapped):
    if level == 1 or self.config.pruning.schedule == "oneshot":
      return masks_lib.ones_like([w.numpy() for _, w in
                                  self._prunable_info(wrapped)])
    return self._load_masks(level_dir(self.workdir, recipe.name, level - 1),
                            wrapped)

  def _load_masks(self, folder, wrapped):
    shapes = [w.shape for _, w in self._prunable_info(wrapped)]
    return weights_lib.load_arrays(os.path.join(folder, "masks.npz"), shapes)

  def _ranking_weights(self, recipe, level, base, wrapped):
    """Loads the weights that magnitude pruning ranks into `base`; returns them."""
    if level == 1 or self.config.pruning.schedule == "oneshot":
      source = level_dir(self.workdir, None, 0)
    else:
      source = level_dir(self.workdir, recipe.name, level - 1)
    weights_lib.load_model_weights(os.path.join(source, "final.weights.npz"),
                                   base)
    return [w.numpy() for _, w in self._prunable_info(wrapped)]

  def compute_masks(self, recipe, level, base, wrapped):
    """Returns the masks of `recipe` at `level` (computed once, then read)."""
    folder = level_dir(self.workdir, recipe.name, level)
    path = os.path.join(folder, "masks.npz")
    if os.path.exists(path):
      return self._load_masks(folder, wrapped)
    if recipe.masks_from:  # a branch of another lineage at this level
      source = recipes_lib.get(recipe.masks_from)
      new = self.compute_masks(source, level, base, wrapped)
      previous = masks_lib.ones_like(new)
      thresholds = list(artifacts.read_json(os.path.join(
          level_dir(self.workdir, source.name, level),
          "thresholds.json")).values())
    else:
      pruning = self.config.pruning
      previous = self._previous_masks(recipe, level, wrapped)
      ranked = self._ranking_weights(recipe, level, base, wrapped)
      if pruning.schedule == "iterative":
        fraction = pruning.fraction
        if pruning.layer_fractions:
          fraction = [pruning.fraction_of(name)
                      for name, _ in self._prunable_info(wrapped)]
        new = masks_lib.iterative_masks(ranked, previous, fraction,
                                        pruning.scope)
      else:
        new = masks_lib.target_masks(ranked, pruning.expected_sparsity(level),
                                     pruning.scope)
      thresholds = [summaries.pruning_threshold(w, m)
                    for w, m in zip(ranked, new)]
    if recipe.mask == "random":
      rng = np.random.default_rng(
          [self.config.train.seed, level, zlib.crc32(recipe.name.encode())])
      new = masks_lib.random_masks(new, previous, rng)
      thresholds = [None] * len(new)  # no magnitude threshold
    info = self._prunable_info(wrapped)
    names = [f"{name}.{w.name.split('/')[-1].split(':')[0]}" for name, w in info]
    artifacts.write_json(os.path.join(folder, "thresholds.json"),
                         dict(zip([name for name, _ in info], thresholds)))
    weights_lib.save_arrays(path, new, names)
    return new

  # ------------------------------------------------------------ retraining
  def _start_weights(self, recipe, level, base):
    dense = level_dir(self.workdir, None, 0)
    if recipe.start == "reinit":
      fresh = self._build(self.config.train.seed + 7919 * level)
      base.set_weights(fresh.get_weights())
      return
    # Under one-shot pruning every level prunes θT, so "previous" is θT at
    # every level (Renda et al.'s one-shot recipe), never another level's
    # weights.
    previous = (dense if self.config.pruning.schedule == "oneshot" else
                level_dir(self.workdir, recipe.name, level - 1))
    path = {
        "init": os.path.join(dense, "init.weights.npz"),
        "rewind": os.path.join(dense, "rewind.weights.npz"),
        "previous": os.path.join(previous, "final.weights.npz"),
    }[recipe.start]
    weights_lib.load_model_weights(path, base)

  def _plan(self, recipe):
    offset = self._rewind_step if recipe.schedule_start == "rewind" else 0
    constant_lr = None
    if recipe.constant_lr:
      constant_lr = self.config.pruning.finetune_lr
      if constant_lr is None:  # the rate of the dense run's last step
        constant_lr = training.make_schedule(
            self.config.train, self._steps_per_epoch,
            training.TrainingPlan(steps=self._total_steps)).value(
                self._total_steps - 1)
    return training.TrainingPlan(
        steps=self._total_steps - offset, schedule_offset=offset,
        data_offset=offset, constant_lr=constant_lr)

  def _teacher(self, recipe, level):
    teacher_spec = self.config.distill.teacher
    if teacher_spec == "dense" or (teacher_spec == "previous_level" and
                                   level == 1):
      path = os.path.join(level_dir(self.workdir, None, 0), "final.weights.npz")
    elif teacher_spec == "previous_level":
      path = os.path.join(level_dir(self.workdir, recipe.name, level - 1),
                          "final.weights.npz")
    else:
      path = teacher_spec
    return distill.load_teacher(path, lambda: self._build(
        self.config.train.seed))

  def _fit_model(self, recipe, level, wrapped, data):
    """Returns (model to fit, compile function, callbacks, data to fit on)."""
    if not recipe.distill:
      return wrapped, compile_classifier, [], data
    settings = self.config.distill
    teacher = self._teacher(recipe, level)
    distiller = distill.Distiller(
        wrapped, teacher, alpha=settings.alpha,
        temperature=settings.temperature, reduction=settings.reduction)
    callbacks = []
    if settings.stop_epoch is not None:
      callbacks.append(distill.StopDistillation(settings.stop_epoch))
    if settings.cache_teacher_logits:
      logits = teacher.predict(data.train.ordered(self.config.data.eval_batch_size),
                               verbose=0)
      data = dataclasses.replace(data, train=data.train.with_extra(logits))
    return distiller, distill.compile_distiller, callbacks, data

  def run_level(self, recipe, level):
    """Prunes and retrains `recipe` at `level` unless done; returns its row."""
    folder = level_dir(self.workdir, recipe.name, level)
    finished = _finished_row(folder)
    if finished:
      return finished
    started = time.time()
    base = self._build(self.config.train.seed)
    wrapped = self._wrapped(base)
    level_masks = self.compute_masks(recipe, level, base, wrapped)
    self._start_weights(recipe, level, base)
    wrapper.set_masks(wrapped, level_masks)
    model, compile_fn, callbacks, data = self._fit_model(recipe, level, wrapped,
                                                         self.data)
    if self._chief:
      callbacks.append(summaries.epoch_callback(self.workdir, recipe.name,
                                                level))
    plan = self._plan(recipe)
    history = training.train(model, data, self.config.train,
                             plan, folder, compile_fn,
                             callbacks=callbacks,
                             evaluate=self._evaluate_sets())
    self._check_pruned_weights_are_zero(wrapped, folder)
    weights_lib.save_model_weights(os.path.join(folder, "final.weights.npz"),
                                   base)
    sparsity = masks_lib.sparsity(level_masks)
    row = self._row(recipe.name, level, sparsity, history, started,
                    constant_lr=plan.constant_lr)
    layers = {
        name: {"shape": list(w.shape), "weights": int(np.size(m)),
               "nonzero": int(np.count_nonzero(w.numpy())),
               "sparsity": float(s)}
        for (name, w), m, s in zip(self._prunable_info(wrapped), level_masks,
                                   masks_lib.layer_sparsities(level_masks))}
    thresholds_path = os.path.join(folder, "thresholds.json")
    if os.path.exists(thresholds_path):
      for name, value in artifacts.read_json(thresholds_path).items():
        layers[name]["threshold"] = value
    artifacts.write_json(os.path.join(folder, "metrics.json"), {
        "status": DONE, "row": row, "layers": layers, "history": history})
    _remove_resume_state(folder)
    if self._chief:
      summaries.write_stage(self.workdir, config_lib.to_dict(self.config), row,
                            layers)
    return row

  def _check_pruned_weights_are_zero(self, wrapped, folder):
    for name, weight, mask in wrapper.prunable_variables(wrapped):
      leaked = np.count_nonzero(weight.numpy()[mask.numpy() == 0])
      if leaked:
        raise RuntimeError(
            f"{leaked} pruned weights of layer {name!r} are non-zero after "
            f"training in {folder}; this is a bug in kdticket_tf, please report "
            "it.")

  def _row(self, recipe, level, sparsity, history, started, constant_lr=None):
    last = history[-1] if history else {}
    return {
        "recipe": recipe, "level": level, "sparsity": float(sparsity),
        "weights_remaining": 1.0 - float(sparsity),
        "test_accuracy": last.get("test_accuracy"),
        **results.selected_on_validation(history),
        "validation_accuracy": last.get("validation_accuracy"),
        "train_loss": last.get("loss"),
        "epochs": len(history),
        "constant_lr": constant_lr,
        "seconds": time.time() - started,
        "status": DONE,
    }

  # ------------------------------------------------------------------ run
  def _record(self, row):
    self._rows[(row["recipe"], row["level"])] = row
    if not self._chief:
      return
    rows = results.write(self.workdir, list(self._rows.values()),
                         self.config.recipes)
    plots.plot_accuracy_vs_sparsity(
        [("", rows)], os.path.join(self.workdir, PLOT_NAME),
        title=f"{self.data.name}: test accuracy against sparsity")

  def _prepare_workdir(self, overwrite, files):
    """Creates the workdir, moves an old run aside if asked, checks the config."""
    if not os.access(self.workdir, os.W_OK):
      raise ValueError(
          f"workdir={self.workdir!r} is not writable; choose a folder you can "
          "write.")
    config_dict = config_lib.to_dict(self.config)
    if overwrite:
      self._lock.release()
      moved = workdir_lib.replace(self.workdir)
      os.makedirs(self.workdir, exist_ok=True)
      self._lock.acquire()
      if moved:
        os.remove(os.path.join(moved, workdir_lib.LOCK_NAME))
        logging.info("Moved the earlier run to %s", moved)
    recorded = workdir_lib.check_config(self.workdir, config_dict)
    # The experiment goes first, so a crash between the two writes repeats it
    # on resume rather than losing it; a plain resume does not write it again.
    if self._chief and recorded != config_dict:
      summaries.write_experiment(self.workdir, config_dict,
                                 self.config.recipes)
    artifacts.write_json(os.path.join(self.workdir, workdir_lib.CONFIG_NAME),
                         config_dict)
    artifacts.write_json(os.path.join(self.workdir, MODEL_INFO), {
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
      LotteryFailedError: a level failed (its row says why); every other
        finished level is kept.
    """
    self._lock = workdir_lib.WorkdirLock(self.workdir)
    try:
      os.makedirs(self.workdir, exist_ok=True)
      self._lock.acquire()
    except OSError as error:
      raise ValueError(
          f"workdir={self.workdir!r} cannot be created ({error.strerror}); "
          "choose a folder you can write.") from None
    try:
      self._prepare_workdir(overwrite, files)
      return self._run_levels()
    finally:
      self._lock.release()

  def _run_levels(self):
    if self.config.train.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        self.config.train.mixed_precision or "float32")
    try:
      return self._run_all_levels()
    finally:
      keras.mixed_precision.set_global_policy("float32")

  def _run_all_levels(self):
    try:
      with self._strategy.scope():
        dense = self.run_dense()
    except training.TrainingDivergedError as error:
      self._record(self._failed_row(results.DENSE, 0, error))
      raise LotteryFailedError(f"The dense run failed: {error}") from None
    self._record(dense)
    self.export_stage(results.DENSE, 0)
    self._progress(dense, 0)
    failed = {}
    levels = self.config.pruning.num_levels
    for level in range(1, levels + 1):
      for name in self.config.recipes:
        recipe = recipes_lib.get(name)
        if name in failed or recipe.masks_from in failed:
          continue  # its later levels need this level's weights or masks
        try:
          with self._strategy.scope():
            row = self.run_level(recipe, level)
        except training.TrainingDivergedError as error:
          row = self._failed_row(name, level, error)
          failed[name] = f"{name} level {level}: {error}"
        self._record(row)
        if row["status"] == DONE:
          self.export_stage(name, level)
        self._progress(row, level)
    if failed:
      raise LotteryFailedError(
          "Failed, later levels of these recipes skipped, every other result "
          f"kept: {'; '.join(failed.values())}")
    return results.sort_rows(list(self._rows.values()), self.config.recipes)

  def export_stage(self, recipe, level, base_dir=None, force=False):
    """Exports a finished stage as a servable ticket (skipped if it exists).

    Args:
      recipe: Recipe name (`dense` for level 0).
      level: The level.
      base_dir: Serving base folder (default `<workdir>/export/serving`).
      force: Export even when the config turns exports off, and overwrite.

    Returns:
      The ticket's path, or None when exports are off.
    """
    settings = self.config.export
    if not (settings.saved_model or force) or not self._chief:
      return None
    path = export_lib.serving_path(self.workdir, recipe, level, base_dir)
    if not force and os.path.exists(os.path.join(path, "ticket.json")):
      return path
    folder = level_dir(self.workdir, recipe, level)
    row = _finished_row(folder)
    if row is None:
      raise ValueError(f"{folder} has not finished; only finished levels can "
                       "be exported.")
    base = self._build(self.config.train.seed)
    weights_lib.load_model_weights(os.path.join(folder, "final.weights.npz"),
                                   base)
    prunable = [name for name, _ in self._prunable_info(
        wrapper.wrap_model(base, self.config.pruning.keep_dense))]
    layers = export_lib.layer_report(base, prunable)
    weights = sum(v["weights"] for v in layers.values())
    nonzero = sum(v["nonzero"] for v in layers.values())
    dense_ticket = os.path.join(export_lib.serving_path(
        self.workdir, results.DENSE, 0, base_dir), "ticket.json")
    dense_gzip_bytes = None
    if level and os.path.exists(dense_ticket):
      dense_gzip_bytes = artifacts.read_json(dense_ticket)["gzip_bytes"]
    tflite_path = None
    if settings.tflite:
      tflite_path = os.path.join(self.workdir, export_lib.TFLITE_DIR,
                                 f"{recipe}_level_{level:02d}.tflite")
    export_lib.export_ticket(
        base, path, self.data.input_shape,
        {"recipe": recipe, "level": level, "sparsity": row["sparsity"],
         "prunable_weights": weights, "nonzero_weights": nonzero,
         "layers": layers, "test_accuracy": row["test_accuracy"],
         "test_accuracy_at_best_validation":
             row.get("test_accuracy_at_best_validation"),
         "config": config_lib.to_dict(self.config)},
        self.data.normalization, tflite_path=tflite_path,
        dense_gzip_bytes=dense_gzip_bytes)
    return path

  def _failed_row(self, recipe, level, error):
    folder = level_dir(self.workdir, recipe, level)
    row = dict.fromkeys(results.COLUMNS)
    row.update(recipe=recipe, level=level, status="failed", error=str(error))
    masks_path = os.path.join(folder, "masks.npz")
    if os.path.exists(masks_path):
      sparsity = masks_lib.sparsity(weights_lib.load_arrays(masks_path))
      row.update(sparsity=sparsity, weights_remaining=1.0 - sparsity)
    artifacts.write_json(os.path.join(folder, "metrics.json"),
                         {"status": "failed", "row": row, "error": str(error)})
    logging.error("%s level %d failed: %s", recipe, level, error)
    return row

  def _progress(self, row, level):
    levels = self.config.pruning.num_levels
    elapsed = time.time() - self._started
    done = len(self._rows)
    total = 1 + levels * len(self.config.recipes)
    remaining = elapsed / max(done, 1) * (total - done)
    accuracy = row.get("test_accuracy")
    logging.info(
        "%-14s level %d/%d  weights remaining %6.2f%%  test accuracy %s  "
        "elapsed %.0fs  about %.0fs left", row["recipe"], level, levels,
        100.0 * row["weights_remaining"],
        "n/a" if accuracy is None else f"{100.0 * accuracy:.2f}%",
        elapsed, remaining)


def prepare(config, workdir, data=None, model_fn=None):
  """Builds (and so validates) a `Lottery`; nothing is written yet.

  Args:
    config: A `LotteryConfig`.
    workdir: Output folder.
    data: `LotteryData`; by default built from `config.data`.
    model_fn: Model builder; by default `config.model` from the registry.

  Returns:
    The `Lottery`; call its `run()`.
  """
  # pylint: disable=g-import-not-at-top
  from kdticket_tf import data as data_lib
  from kdticket_tf import models as models_lib
  if model_fn is None:
    models_lib.get(config.model.name)  # fail on an unknown model before data
  # Created before any other TensorFlow work, as MultiWorkerMirroredStrategy
  # requires.
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  if data is None:
    data = data_lib.load(config.data, seed=config.train.seed)
  if model_fn is None:
    def model_fn():
      return models_lib.build(config.model, data.input_shape, data.num_classes)
  return Lottery(model_fn, data, config, workdir, strategy)


def run_lottery(config, workdir, data=None, model_fn=None, overwrite=False):
  """Runs a lottery search described by `config` in `workdir`.

  Args:
    config: A `LotteryConfig`.
    workdir: Output folder (created; an earlier run there is resumed).
    data: `LotteryData`; by default built from `config.data`.
    model_fn: Model builder; by default `config.model` from the registry.
    overwrite: Move an earlier run in `workdir` aside and start again.

  Returns:
    The result rows (dicts), dense first.
  """
  return prepare(config, workdir, data, model_fn).run(overwrite=overwrite)


def find_tickets(model_fn, train_data, test_data, workdir, *,
                 recipes=("lt",), train=None, pruning=None, distill=None,
                 export=None, distribute=None, validation_data=None,
                 steps_per_epoch=None, augmented=True):
  """Finds lottery tickets for your own model and data.

  Args:
    model_fn: Returns an uncompiled functional or Sequential tf_keras model
      whose output is logits.
    train_data: Finite, batched `tf.data.Dataset` of (inputs, integer labels)
      or (inputs, labels, sample weights), one epoch, iterated once per
      epoch; or a function of the epoch (an int64 scalar tensor) that
      returns that epoch's dataset, for an order that resumed and rewound
      trainings see exactly (see `pipeline.DatasetStream`).
    test_data: Batched `tf.data.Dataset` for the per-epoch test accuracy.
    workdir: Output folder (resumed if it holds an earlier run).
    recipes: Recipe names (see `kdticket_tf.recipes.names()`).
    train: `TrainConfig` (defaults: SGD 0.1, 2 epochs).
    pruning: `PruningConfig` (defaults: iterative, 20% per level, 3 levels).
    distill: `DistillConfig` for KD recipes.
    export: `ExportConfig` (default: every finished stage exported as a
      SavedModel; `ExportConfig(saved_model=False)` turns exports off).
    distribute: `DistributeConfig` (default: `auto`).
    validation_data: Optional batched validation dataset.
    steps_per_epoch: Batches per epoch of `train_data` (counted if None).
    augmented: Whether `train_data` applies random augmentation.

  Returns:
    The result rows: dicts with recipe, level, sparsity, test_accuracy,
    test_accuracy_at_best_validation (with validation data), seconds, ...;
    the dense run is level 0.
  """
  config = config_lib.LotteryConfig(
      recipes=tuple(recipes), train=train or config_lib.TrainConfig(),
      pruning=pruning or config_lib.PruningConfig(),
      distill=distill or config_lib.DistillConfig(),
      export=export or config_lib.ExportConfig(),
      distribute=distribute or config_lib.DistributeConfig(),
      data=config_lib.DataConfig(dataset="user"),
      model=config_lib.ModelConfig(name="user"))
  # Created before any other TensorFlow work, as MultiWorkerMirroredStrategy
  # requires.
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  sample = next(iter(test_data))[0]
  data = pipeline.LotteryData(
      name="user",
      train=pipeline.DatasetStream(train_data, steps_per_epoch, augmented),
      test=test_data, validation=validation_data,
      input_shape=tuple(sample.shape[1:]), num_classes=0)
  return Lottery(model_fn, data, config, workdir, strategy).run()


def from_workdir(workdir):
  """Returns the `Lottery` of an existing workdir (registered model and data).

  Raises:
    ValueError: if `workdir` holds no run of the command line.
  """
  path = os.path.join(workdir, workdir_lib.CONFIG_NAME)
  if not os.path.exists(path):
    raise ValueError(f"{workdir} holds no {workdir_lib.CONFIG_NAME}; is it a "
                     "kdticket_tf workdir?")
  config = config_lib.from_dict(artifacts.read_json(path))
  if config.model.name == "user":
    raise ValueError(
        f"{workdir} was made by find_tickets with your own model; export its "
        "tickets from Python with Lottery.export_stage.")
  return prepare(config, workdir)
