"""Runs an instability stage: two copies from each θk, the errors between them.

For each start step k of `AnalysisConfig.steps`, the stage of level L
(`graph.py`) trains two copies of the network from θk, the dense
run's weights after step k (saved while it trains, `dense_callbacks`), with the
run's schedule from k, exactly as `rewind` retrains: a fresh optimizer, the
learning rate schedule and the data stream offset by k, T - k steps. A ticket
(L > 0) trains wrapped with its masks, as its stage did. The two copies differ
only in their data-order seed (`seed + 1` and `seed + 2`). Then the errors on
the test and the training set at `AnalysisConfig.points` points of the line
between their end points (`instability.linear_path`).

Everything lands in `instability/level_NN/start_<k>it/`: `copy_1/`, `copy_2/`
(their checkpoints while they train, then `final.weights.npz`) and `row.json`.
Each copy resumes from its last epoch, a finished start step is not
recomputed, and `metrics.json` marks the stage done.
"""

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from kdticket_tf.instability import graph as instability_graph
from kdticket_tf.instability import interpolation as instability
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import wrapper
from kdticket_tf.report import summaries
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.training import fit as training
from kdticket_tf.training import rewinding

DONE = "done"
COPY_SEED_OFFSETS = (1, 2)


def start_steps(config, steps_per_epoch):
  """Returns the start steps k of `config.analysis`, in steps, sorted."""
  return sorted({d.to_steps(steps_per_epoch) for d in config.analysis.steps})


def training_steps(config, steps_per_epoch):
  """Returns the optimizer steps one instability stage trains (both copies)."""
  total = config.train.total_steps(steps_per_epoch)
  return sum(2 * (total - k) for k in start_steps(config, steps_per_epoch))


def check(config, data):
  """Refuses, before any training, an analysis that cannot run.

  Raises:
    ValueError: for a start step at or after the end of training or inside
      a Keras call, a level the search does not have, or data whose order
      cannot be reseeded.
  """
  if not instability_graph.analysed_levels(config):
    return
  steps_per_epoch = data.train.steps_per_epoch
  total = config.train.total_steps(steps_per_epoch)
  for duration in config.analysis.steps:
    step = duration.to_steps(steps_per_epoch)
    if step >= total:
      raise ValueError(
          f"AnalysisConfig.steps has {duration} ({step} steps), not before the "
          f"end of training ({total} steps); choose smaller start steps.")
    rewinding.check_observable(duration, step, steps_per_epoch,
                               config.train.steps_per_execution)
  for level in instability_graph.analysed_levels(config):
    if level > config.pruning.num_levels:
      raise ValueError(
          f"AnalysisConfig.levels has {level}, but the search has "
          f"{config.pruning.num_levels} pruned levels; choose levels from 0 "
          f"to {config.pruning.num_levels}.")
  if not hasattr(data.train, "with_seed"):
    raise ValueError(
        "The instability analysis trains two copies on two data orders, "
        "which needs in-memory training data (a registered dataset); a "
        "tf.data training set cannot be reseeded.")


def dense_callbacks(runner, base):
  """Saves θk at every start step during the dense run; returns callbacks."""
  config, layout = runner.config, runner.layout
  if not instability_graph.analysed_levels(config):
    return []
  steps_per_epoch = runner.data.train.steps_per_epoch
  callbacks = []
  for step in start_steps(config, steps_per_epoch):
    path = layout.start_weights(step)
    if step == 0:
      if not os.path.exists(path):
        weights_lib.save_model_weights(path, base)
    else:
      callbacks.append(rewinding.SaveWeightsAtStep(base, step,
                                                   steps_per_epoch, path))
  return callbacks


def network_name(config, level):
  """`dense`, or the ticket's stage (`lt/level_03`)."""
  if not level:
    return "dense"
  return str(instability_graph.StageKey(config.recipes[0], level))


def run(runner, key):
  """Runs (or resumes) the instability stage `key`; returns its stage row.

  Args:
    runner: The search's `StageRunner`, the context every stage kind is
      given (`search/kinds.py`): model, data, config, layout, strategy.
    key: An instability `StageKey`.
  """
  layout, config = runner.layout, runner.config
  metrics_path = layout.metrics(key)
  if os.path.exists(metrics_path):
    metrics = artifacts.read_json(metrics_path)
    if metrics.get("status") == DONE:
      return metrics["row"]
  started = time.time()
  if config.train.deterministic:
    tf.config.experimental.enable_op_determinism()
  masks = None
  if key.level:
    masks = weights_lib.load_arrays(layout.masks(
        instability_graph.StageKey(config.recipes[0], key.level)))
  rows = []
  with runner.strategy.scope():
    for step in start_steps(config, runner.data.train.steps_per_epoch):
      rows.append(_start_step(runner, key, step, masks))
  sparsity = 0.0 if masks is None else float(masks_lib.sparsity(masks))
  row = {"recipe": key.recipe, "level": key.level, "status": DONE,
         "network": network_name(config, key.level), "sparsity": sparsity,
         "weights_remaining": 1.0 - sparsity,
         "seconds": time.time() - started,
         "barriers": {str(r["start_step"]): r["barrier"] for r in rows}}
  artifacts.write_json(metrics_path, {"status": DONE, "row": row,
                                      "rows": rows})
  return row


def _start_step(runner, key, step, masks):
  """Trains the two copies from θk (unless done), measures the path."""
  row_path = os.path.join(runner.layout.instability_start(key, step),
                          "row.json")
  if os.path.exists(row_path):
    return artifacts.read_json(row_path)
  started = time.time()
  config = runner.config
  ends = []
  for index, offset in enumerate(COPY_SEED_OFFSETS, start=1):
    copy_dir = runner.layout.instability_copy(key, step, index)
    final = os.path.join(copy_dir, layout_lib.FINAL_WEIGHTS)
    if not os.path.exists(final):
      train_copy(runner, step, config.train.seed + offset, masks, copy_dir,
                 os.path.relpath(copy_dir, runner.layout.workdir))
    ends.append(weights_lib.load_arrays(final))
  model = runner.build()
  path = instability.linear_path(
      model, ends[0], ends[1],
      {"test": runner.data.test,
       "train": runner.data.train.ordered(config.data.eval_batch_size)},
      points=config.analysis.points, batchnorm=config.analysis.batchnorm,
      batchnorm_batches=runner.data.train.ordered(config.data.batch_size),
      observe=_zero_check(runner, model, masks, key))
  errors, train_errors = path["errors"]["test"], path["errors"]["train"]
  row = {
      "network": network_name(config, key.level), "level": key.level,
      "sparsity": 0.0 if masks is None else masks_lib.sparsity(masks),
      "start": _as_given(config, step, runner.data.train.steps_per_epoch),
      "start_step": step, "barrier": path["barriers"]["test"],
      "train_barrier": path["barriers"]["train"],
      "errors": errors, "end_errors": [errors[0], errors[-1]],
      "train_errors": train_errors,
      "train_end_errors": [train_errors[0], train_errors[-1]],
      "coefficients": path["coefficients"],
      "bn_statistics": path["batchnorm"],
      "data_seeds": [config.train.seed + o for o in COPY_SEED_OFFSETS],
      "stable": path["barriers"]["test"] <= config.analysis.threshold,
      "seconds": time.time() - started,
  }
  artifacts.write_json(row_path, row)
  return row


def _as_given(config, step, steps_per_epoch):
  for duration in config.analysis.steps:
    if duration.to_steps(steps_per_epoch) == step:
      return str(duration)
  return f"{step}it"


def train_copy(runner, step, data_seed, masks, folder, run_name):
  """Trains one copy from θk for the rest of the schedule; saves it in `folder`.

  Args:
    runner: The `StageRunner`.
    step: k in steps.
    data_seed: The seed of this copy's data order.
    masks: The ticket's masks, or None for the dense network.
    folder: Where its checkpoints and `final.weights.npz` go.
    run_name: Its TensorBoard run.
  """
  config, layout = runner.config, runner.layout
  base = runner.build()
  if not os.path.exists(layout.start_weights(step)):
    raise ValueError(
        f"{layout.start_weights(step)} (θk of start step {step}) was not saved "
        "by the dense run, which ran without the instability analysis; run "
        "the analysis in a fresh workdir.")
  weights_lib.load_model_weights(layout.start_weights(step), base)
  model = base
  if masks is not None:
    model = runner.wrap(base)
    runner.masks.apply(base, model, masks)
  training.add_weight_decay(model, config.train.weight_decay)
  total = config.train.total_steps(runner.data.train.steps_per_epoch)
  plan = training.TrainingPlan(steps=total - step, schedule_offset=step,
                               data_offset=step)
  data = dataclasses.replace(runner.data,
                             train=runner.data.train.with_seed(data_seed))
  callbacks = []
  if runner.chief:
    callbacks.append(summaries.epoch_callback(
        os.path.join(layout.tensorboard, run_name)))
  training.train(model, data, config.train, plan, folder,
                 training.compile_classifier, callbacks=callbacks,
                 evaluate={"test": runner.data.test}, name=run_name)
  weights_lib.save_model_weights(
      os.path.join(folder, layout_lib.FINAL_WEIGHTS), base)
  for name in (layout_lib.CHECKPOINTS, layout_lib.EPOCHS):
    path = os.path.join(folder, name)
    if os.path.isdir(path):
      tf.io.gfile.rmtree(path)


def pruned_nonzero(model, positions, masks):
  """Returns how many pruned weights of `model` are not exactly zero."""
  weights = model.get_weights()
  return sum(int(np.count_nonzero(weights[p][np.asarray(m) == 0]))
             for p, m in zip(positions, masks))


def _zero_check(runner, model, masks, key):
  """Returns an `observe` function refusing leaked pruned weights, or None."""
  if masks is None:
    return None
  ids = [id(w) for w in model.weights]
  positions = [ids.index(id(w)) for _, w, _ in
               wrapper.prunable_variables(runner.wrap(model))]

  def observe(coefficient, point):
    leaked = pruned_nonzero(point, positions, masks)
    if leaked:
      raise RuntimeError(
          f"{leaked} pruned weights are non-zero at coefficient "
          f"{coefficient:.2f} of the path of {key}; this is a bug in "
          "kdticket_tf, please report it.")
  return observe
