"""A ticket: one recipe at one pruned level, `StageKey(recipe, level)`.

Its masks, start weights and teacher come from the stages `lineage.py` names.
The stage wraps a fresh build of the network for pruning, finds its masks
(`level_masks.py`), loads its start weights, fixes the masks, and trains with
its recipe's plan (`RewindPoint.plan`): on the hard labels, or through the
Distiller on the teacher's soft labels beside them. It then checks that no
pruned weight moved (nor a pruned channel's bias or BatchNormalization) and
records the ticket: `final.weights.npz` (pruned weights exactly 0) and
`metrics.json` with the row (its channels removed and multiply-adds left
among them) and each layer's sparsity.
"""

import dataclasses
import os

import numpy as np

from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import wrapper
from kdticket_tf.search import lineage
from kdticket_tf.search import stage_rows
from kdticket_tf.search import trained_stage
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.training import distill
from kdticket_tf.training import fit as training
from kdticket_tf.training import kd_collapse
from kdticket_tf.training import recipes as recipes_lib


class TicketKind(trained_stage.TrainedKind):
  """Every recipe's stage at every pruned level."""

  def add_stages(self, config, stages):
    """Level by level, each level's recipes in the order of `config.recipes`."""
    stages = dict(stages)
    for level in range(1, config.pruning.num_levels + 1):
      for name in config.recipes:
        stages[layout_lib.StageKey(name, level)] = lineage.needs(
            config, recipes_lib.get(name), level)
    return stages

  def dense_callbacks(self, context, base):
    """θk, saved while the dense network trains (`RewindPoint`)."""
    return context.rewind.dense_callbacks(base)

  def steps(self, context, key):
    """The recipe's plan: all of the schedule, or T - k when rewound."""
    return context.rewind.plan(recipes_lib.get(key.recipe)).steps

  def train(self, context, key, started):
    recipe = recipes_lib.get(key.recipe)
    base = context.build()
    wrapped = context.wrap(base)
    training.add_weight_decay(wrapped, context.config.train.weight_decay)
    masks = context.masks.masks(recipe, key.level, base, wrapped)
    load_start_weights(context, recipe, key.level, base)
    context.masks.apply(base, wrapped, masks)
    model, compile_fn, callbacks, data = _fit_model(context, recipe, key.level,
                                                    wrapped)
    plan = context.rewind.plan(recipe)
    history = trained_stage.fit(context, key, model, data, plan, compile_fn,
                                callbacks)
    _check_pruned_weights_are_zero(wrapped, key)
    weights_lib.save_model_weights(context.layout.final_weights(key), base)
    row = trained_stage.result_row(context, key, masks_lib.sparsity(masks),
                                   history, started, plan.constant_lr)
    row.update(context.masks.costs(context.build(), wrapped, masks))
    row["warning"] = kd_collapse.warning(recipe, row["test_accuracy"],
                                         context.data.num_classes)
    return trained_stage.finish(context, key, {
        "status": stage_rows.DONE, "row": row,
        "layers": _layers(context, key, wrapped, masks), "history": history})


KIND = TicketKind()


def load_start_weights(context, recipe, level, base):
  """Loads the weights `recipe` starts from at `level` into `base`."""
  source = lineage.start(context.config, recipe, level)
  if source is None:  # a fresh initialisation, its own seed per level
    fresh = context.build(context.config.train.seed + 7919 * level)
    base.set_weights(fresh.get_weights())
    return
  weights_lib.load_model_weights(source.path(context.layout), base)


def _fit_model(context, recipe, level, wrapped):
  """Returns (model to fit, compile function, callbacks, data to fit on)."""
  if not recipe.distill:
    return wrapped, training.compile_classifier, [], context.data
  settings = context.config.distill
  teacher = distill.load_teacher(
      lineage.teacher_path(context.config, context.layout, recipe, level),
      context.build)
  distiller = distill.Distiller(
      wrapped, teacher, alpha=settings.alpha,
      temperature=settings.temperature, reduction=settings.reduction)
  callbacks = []
  if settings.stop_epoch is not None:
    callbacks.append(distill.StopDistillation(settings.stop_epoch))
  data = context.data
  if settings.cache_teacher_logits:
    logits = teacher.predict(
        data.train.ordered(context.config.data.eval_batch_size), verbose=0)
    data = dataclasses.replace(data, train=data.train.with_extra(logits))
  return distiller, distill.compile_distiller, callbacks, data


def _check_pruned_weights_are_zero(wrapped, key):
  """Refuses a ticket whose pruned weights, or pruned channels' biases and
  BatchNormalization parameters, moved from 0.0."""
  masked = [(name, weight, mask.numpy())
            for name, weight, mask in wrapper.prunable_variables(wrapped)]
  masked += wrapper.channel_masked_variables(wrapped)
  for name, weight, mask in masked:
    leaked = np.count_nonzero(weight.numpy()[mask == 0])
    if leaked:
      raise RuntimeError(
          f"{leaked} pruned weights of layer {name!r} are non-zero after "
          f"training {key}; this is a bug in kdticket_tf, please report it.")


def _layers(context, key, wrapped, masks):
  """Each prunable layer's shape, weights, nonzeros, sparsity and threshold."""
  layers = {
      name: {"shape": list(w.shape), "weights": int(np.size(m)),
             "nonzero": int(np.count_nonzero(w.numpy())),
             "sparsity": float(s)}
      for (name, w, _), m, s in zip(wrapper.prunable_variables(wrapped),
                                    masks, masks_lib.layer_sparsities(masks))}
  if os.path.exists(context.layout.thresholds(key)):
    for name, value in artifacts.read_json(
        context.layout.thresholds(key)).items():
      layers[name]["threshold"] = value
  return layers
