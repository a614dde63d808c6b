"""Runs one stage of a search, given its workdir and its key.

A stage reads what its dependencies wrote (θ0, θk, θT, masks, a teacher) and
writes only its own folder: `final.weights.npz`, its masks, `metrics.json` (the
result row, per-layer sparsity and the per-epoch history), its TensorBoard run
and, when exports are on, its own servable ticket. A stage whose `metrics.json`
says `done` is never recomputed; an interrupted stage resumes from its last epoch.
The coordinator (`lottery.py`) alone writes the run's tables, plot and summary.
"""

import dataclasses
import os
import shutil
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf.store import artifacts
from kdticket_tf import config as config_lib
from kdticket_tf import data as data_lib
from kdticket_tf.training import distill
from kdticket_tf.run import strategies as distribute_lib
from kdticket_tf.export import saved_model as export_lib
from kdticket_tf.instability import graph as instability_graph
from kdticket_tf.instability import stage as instability_stage
from kdticket_tf.training import kd_collapse
from kdticket_tf.store import layout as layout_lib
from kdticket_tf import models as models_lib
from kdticket_tf.training import recipes as recipes_lib
from kdticket_tf.report import results
from kdticket_tf.config import settings
from kdticket_tf.training import rewinding
from kdticket_tf.report import summaries
from kdticket_tf.training import fit as training
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.search import level_masks
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import wrapper

DONE = "done"
FAILED = "failed"


def finished_row(layout, key):
  """Returns the result row of a finished stage, or None."""
  path = layout.metrics(key)
  if not os.path.exists(path):
    return None
  metrics = artifacts.read_json(path)
  return metrics["row"] if metrics.get("status") == DONE else None


def failure_row(layout, key, error):
  """Returns the result row of a stage that failed (its sparsity, if known)."""
  row = dict.fromkeys(results.COLUMNS)
  row.update(recipe=key.recipe, level=key.level, status=FAILED,
             error=str(error))
  try:
    sparsity = masks_lib.sparsity(weights_lib.load_arrays(layout.masks(key)))
    row.update(sparsity=sparsity, weights_remaining=1.0 - sparsity)
  except ValueError:  # no masks (yet), or unreadable ones: no sparsity
    pass
  return row


def failed_row(layout, key, error):
  """Records `key` as failed in its own folder; returns its result row."""
  row = failure_row(layout, key, error)
  artifacts.write_json(layout.metrics(key),
                       {"status": FAILED, "row": row, "error": str(error)})
  return row


def registered_data_and_model(config, data=None, model_fn=None):
  """Returns `(data, model_fn)`: those given, or built from the registries."""
  if model_fn is None:
    models_lib.get(config.model.name)  # fail on an unknown model before data
  if data is None:
    data = data_lib.load(config.data, seed=config.train.seed)
  if model_fn is None:
    def model_fn():
      return models_lib.build(config.model, data.input_shape, data.num_classes)
  return data, model_fn


def from_workdir(workdir, config):
  """Returns the `StageRunner` of a workdir: what a worker process runs.

  The data and the model are rebuilt from the registries as `config` (the
  workdir's, from `workdir.read_config`) describes them, so the stages run as
  they would in the coordinator's process.
  """
  distribute_lib.configure_virtual_cpus(config.distribute.virtual_cpus)
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  data, model_fn = registered_data_and_model(config)
  return StageRunner(model_fn, data, config, layout_lib.Layout(workdir),
                     strategy)


class StageRunner:
  """Runs stages of one search: the model, the data and the settings they share."""

  def __init__(self, model_fn, data, config, layout, strategy=None,
               chief=True):
    """Creates the runner; nothing is trained yet.

    Args:
      model_fn: Returns a fresh, uncompiled tf_keras model (logits output).
      data: The `LotteryData`.
      config: The `LotteryConfig`.
      layout: The `Layout` to read and write.
      strategy: The `tf.distribute.Strategy` stages train under (default:
        TensorFlow's default strategy).
      chief: Whether this process writes TensorBoard runs and exports.

    Raises:
      ValueError: for a rewind step the search cannot use.
    """
    self.model_fn = model_fn
    self.data = data
    self.config = config
    self.layout = layout
    self.strategy = strategy or tf.distribute.get_strategy()
    self.chief = chief
    self.rewind = rewinding.RewindPoint(
        config, data.train.steps_per_epoch, layout,
        [recipes_lib.get(r) for r in config.recipes])
    self._masks = level_masks.LevelMasks(config, layout)

  def build(self, seed=None):
    """Returns a fresh model built from `seed` (default: the run's seed)."""
    keras.utils.set_random_seed(self.config.train.seed if seed is None
                                else seed)
    # Layers that model_fn leaves unnamed get the same names in every build
    # and every process (dense, dense_1, ...), so the names a stage records
    # (thresholds, per-layer rows) are the names a resumed stage builds.
    keras.backend.reset_uids()
    model = self.model_fn()
    if not isinstance(model, keras.Model):
      raise ValueError(
          f"model_fn returned {type(model).__name__}, not a tf_keras Model; "
          "import kdticket_tf before TensorFlow so tf.keras is tf_keras.")
    return model

  def wrap(self, base):
    """Returns `base` wrapped for pruning (its `keep_dense` layers left alone)."""
    return wrapper.wrap_model(base, self.config.pruning.keep_dense)

  def run(self, key):
    """Runs `key` unless it finished, exports it if asked; returns its row.

    A training whose loss becomes non-finite is recorded as failed (its row
    says why); any other error propagates.
    """
    if instability_graph.is_key(key):  # its own stage kind
      return instability_stage.run(self, key)
    row = finished_row(self.layout, key)
    if row is None:
      settings = self.config.train
      if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
      keras.mixed_precision.set_global_policy(
          settings.mixed_precision or "float32")
      try:
        with self.strategy.scope():
          row = self._train(key)
      except training.TrainingDivergedError as error:
        return failed_row(self.layout, key, error)
      finally:
        keras.mixed_precision.set_global_policy("float32")
    if self.config.export.saved_model and self.chief:
      self.export(key)
    return row

  def _train(self, key):
    started = time.time()
    base = self.build()
    if key.level == 0:
      return self._train_dense(base, started)
    recipe = recipes_lib.get(key.recipe)
    wrapped = self.wrap(base)
    training.add_weight_decay(wrapped, self.config.train.weight_decay)
    masks = self._masks.masks(recipe, key.level, base, wrapped)
    self.start_weights(recipe, key.level, base)
    wrapper.set_masks(wrapped, masks)
    model, compile_fn, callbacks, data = self._fit_model(recipe, key.level,
                                                         wrapped)
    plan = self.rewind.plan(recipe)
    history = self._fit(key, model, data, plan, compile_fn, callbacks)
    self._check_pruned_weights_are_zero(wrapped, key)
    weights_lib.save_model_weights(self.layout.final_weights(key), base)
    row = self._row(key, masks_lib.sparsity(masks), history, started,
                    plan.constant_lr)
    row["warning"] = kd_collapse.warning(recipe, row["test_accuracy"],
                                         self.data.num_classes)
    layers = {
        name: {"shape": list(w.shape), "weights": int(np.size(m)),
               "nonzero": int(np.count_nonzero(w.numpy())),
               "sparsity": float(s)}
        for (name, w, _), m, s in zip(wrapper.prunable_variables(wrapped),
                                      masks, masks_lib.layer_sparsities(masks))}
    if os.path.exists(self.layout.thresholds(key)):
      for name, value in artifacts.read_json(
          self.layout.thresholds(key)).items():
        layers[name]["threshold"] = value
    return self._finish(key, {"status": DONE, "row": row, "layers": layers,
                              "history": history})

  def _train_dense(self, base, started):
    key = layout_lib.DENSE_KEY
    if os.path.exists(self.layout.init_weights):
      weights_lib.load_model_weights(self.layout.init_weights, base)
    else:
      weights_lib.save_model_weights(self.layout.init_weights, base)
    callbacks = (self.rewind.dense_callbacks(base) +
                 instability_stage.dense_callbacks(self, base))
    training.add_weight_decay(base, self.config.train.weight_decay)
    history = self._fit(key, base, self.data, self.rewind.plan(None),
                        training.compile_classifier, callbacks)
    weights_lib.save_model_weights(self.layout.final_weights(key), base)
    row = self._row(key, 0.0, history, started)
    return self._finish(key, {"status": DONE, "row": row, "history": history})

  def _fit(self, key, model, data, plan, compile_fn, callbacks):
    if self.chief:
      callbacks = callbacks + [summaries.epoch_callback(
          self.layout.tensorboard_run(key))]
    return training.train(
        model, data, self.config.train, plan, self.layout.stage_dir(key),
        compile_fn, callbacks=callbacks,
        evaluate={"test": self.data.test, "validation": self.data.validation})

  def _finish(self, key, metrics):
    artifacts.write_json(self.layout.metrics(key), metrics)
    for folder in self.layout.resume_dirs(key):
      shutil.rmtree(folder, ignore_errors=True)
    return metrics["row"]

  def start_weights(self, recipe, level, base):
    """Loads the weights `recipe` starts from at `level` into `base`."""
    if recipe.start == "reinit":
      fresh = self.build(self.config.train.seed + 7919 * level)
      base.set_weights(fresh.get_weights())
      return
    weights_lib.load_model_weights(self.start_weights_path(recipe, level), base)

  def start_weights_path(self, recipe, level):
    """Returns the weights file `recipe` starts from at `level`.

    `init` is θ0, `rewind` θk; `previous` is the recipe's own level L-1 under
    iterative pruning and θT under one-shot pruning (every level prunes θT,
    Renda et al.'s one-shot recipe) and at level 1.
    """
    if recipe.start == "init":
      return self.layout.init_weights
    if recipe.start == "rewind":
      return self.layout.rewind_weights
    if recipe.start != "previous":
      raise ValueError(f"Recipe {recipe.name!r} starts from a fresh "
                       "initialisation, not from a weights file.")
    if self.config.pruning.schedule == "oneshot" or level == 1:
      return self.layout.final_weights(layout_lib.DENSE_KEY)
    return self.layout.final_weights(
        layout_lib.StageKey(recipe.name, level - 1))

  def teacher_path(self, recipe, level):
    """Returns the weights file or SavedModel of `recipe`'s teacher at `level`."""
    teacher = self.config.distill.teacher
    if teacher == "dense" or (teacher == "previous_level" and level == 1):
      return self.layout.final_weights(layout_lib.DENSE_KEY)
    if teacher == "previous_level":
      return self.layout.final_weights(
          layout_lib.StageKey(recipe.name, level - 1))
    return teacher

  def _fit_model(self, recipe, level, wrapped):
    """Returns (model to fit, compile function, callbacks, data to fit on)."""
    if not recipe.distill:
      return wrapped, training.compile_classifier, [], self.data
    settings = self.config.distill
    teacher = distill.load_teacher(self.teacher_path(recipe, level), self.build)
    distiller = distill.Distiller(
        wrapped, teacher, alpha=settings.alpha,
        temperature=settings.temperature, reduction=settings.reduction)
    callbacks = []
    if settings.stop_epoch is not None:
      callbacks.append(distill.StopDistillation(settings.stop_epoch))
    data = self.data
    if settings.cache_teacher_logits:
      logits = teacher.predict(
          data.train.ordered(self.config.data.eval_batch_size), verbose=0)
      data = dataclasses.replace(data, train=data.train.with_extra(logits))
    return distiller, distill.compile_distiller, callbacks, data

  def _check_pruned_weights_are_zero(self, wrapped, key):
    for name, weight, mask in wrapper.prunable_variables(wrapped):
      leaked = np.count_nonzero(weight.numpy()[mask.numpy() == 0])
      if leaked:
        raise RuntimeError(
            f"{leaked} pruned weights of layer {name!r} are non-zero after "
            f"training {key}; this is a bug in kdticket_tf, please report it.")

  def _row(self, key, sparsity, history, started, constant_lr=None):
    last = history[-1] if history else {}
    return {
        "recipe": key.recipe, "level": key.level, "sparsity": float(sparsity),
        "structure": self.config.pruning.structure,
        "weights_remaining": 1.0 - float(sparsity),
        "test_accuracy": last.get("test_accuracy"),
        "validation_accuracy": last.get("validation_accuracy"),
        **results.selected_on_validation(history),
        "train_loss": last.get("loss"),
        "epochs": len(history),
        "constant_lr": constant_lr,
        "seconds": time.time() - started,
        "status": DONE,
    }

  def _representative_data(self, count=100):
    """Yields raw training inputs one at a time (int8 calibration)."""
    for image in self.data.train.raw_examples(count):
      yield [image[None].astype(np.float32)]

  def export(self, key, base_dir=None, force=False):
    """Exports a finished stage as a servable ticket (kept if it exists).

    Args:
      key: The stage.
      base_dir: Serving base folder (default `<workdir>/export/serving`).
      force: Export even when it exists, replacing it.

    Returns:
      The ticket's path.

    Raises:
      ValueError: when the stage has not finished.
    """
    path = self.layout.serving_path(key, base_dir)
    if not force and os.path.exists(os.path.join(path, "ticket.json")):
      return path
    row = finished_row(self.layout, key)
    if row is None:
      raise ValueError(f"{self.layout.stage_dir(key)} has not finished; only "
                       "finished stages can be exported.")
    base = self.build()
    weights_lib.load_model_weights(self.layout.final_weights(key), base)
    layers = export_lib.layer_report(
        base, level_masks.prunable_names(self.wrap(self.build())))
    dense_ticket = os.path.join(
        self.layout.serving_path(layout_lib.DENSE_KEY, base_dir), "ticket.json")
    dense_gzip_bytes = None
    if key.level and os.path.exists(dense_ticket):
      dense_gzip_bytes = artifacts.read_json(dense_ticket)["gzip_bytes"]
    export_lib.export_ticket(
        base, path, self.data.input_shape,
        {"recipe": key.recipe, "level": key.level,
         "sparsity": row["sparsity"],
         "prunable_weights": sum(v["weights"] for v in layers.values()),
         "nonzero_weights": sum(v["nonzero"] for v in layers.values()),
         "layers": layers, "test_accuracy": row["test_accuracy"],
         "test_accuracy_at_best_validation":
             row.get("test_accuracy_at_best_validation"),
         "config": settings.to_dict(self.config)},
        self.data.normalization,
        tflite_path=self.layout.tflite(key) if self.config.export.tflite
        else None,
        tflite_int8_path=(self.layout.tflite(key, "_int8")
                          if self.config.export.tflite_int8 else None),
        representative_data=self._representative_data,
        dense_gzip_bytes=dense_gzip_bytes)
    return path
