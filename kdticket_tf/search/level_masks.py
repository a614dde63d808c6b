"""The masks of a recipe at a level: lineages, one-shot targets, branches.

* A lineage under iterative pruning (IMP) removes `fraction` of the weights its
  previous level kept, ranked by the weights that level trained; level 1 ranks
  the dense final weights θT (which stage gives which: `lineage.py`).
* Under one-shot pruning every level prunes θT to its target sparsity, so every
  magnitude recipe has the same mask at a level.
* A branch (`Recipe.masks_from`) takes its source recipe's masks at the same
  level: as they are, or as the per-layer counts of a random mask.
* Weights are ranked and kept alone, in blocks or in whole channels, as
  `PruningConfig.structure` says (`structures.py`); the structure is bound to
  the model first (the channel structure needs its groups). A random mask
  keeps the source's block or channel count per layer.
* `apply` sets a stage's masks on its wrapped model: the kernels' and, for
  pruned channels, their biases and BatchNormalization parameters. `costs`
  gives the fraction of channels removed and of the dense multiply-adds left.

A stage computes its masks once and writes them, with the magnitude below which
each layer was pruned, into its own folder; a resumed stage reads them back.
"""

import os
import zlib

from absl import logging
import numpy as np

from kdticket_tf.export import flops
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import structures
from kdticket_tf.pruning import wrapper
from kdticket_tf.search import lineage


def prunable_names(wrapped):
  """Returns the names of the prunable layers of a wrapped model, in order."""
  return [name for name, _, _ in wrapper.prunable_variables(wrapped)]


def pruning_threshold(ranked_weights, mask):
  """Returns the largest pruned magnitude of a layer (0 when nothing is pruned)."""
  pruned = np.abs(np.asarray(ranked_weights))[np.asarray(mask) == 0]
  return float(pruned.max()) if pruned.size else 0.0


def bound_structure(config, base, wrapped):
  """Returns the run's sparsity structure bound to the model.

  Args:
    config: The `LotteryConfig`.
    base: The unwrapped model.
    wrapped: `base` wrapped for pruning (its prunable kernels).

  Raises:
    ValueError: when the structure finds nothing to prune in the model.
  """
  pruning = config.pruning
  return structures.get(pruning.structure).bind(
      base, prunable_names(wrapped), pruning.keep_dense,
      pruning.channel_criterion)


class LevelMasks:
  """Finds, writes and reads the masks of each stage of a search."""

  def __init__(self, config, layout):
    """Creates the finder.

    Args:
      config: The `LotteryConfig`.
      layout: The workdir's `Layout`.
    """
    self._config = config
    self._layout = layout

  def _kernels(self, wrapped):
    return [w for _, w, _ in wrapper.prunable_variables(wrapped)]

  def _read(self, key, wrapped):
    return weights_lib.load_arrays(self._layout.masks(key),
                                   [w.shape for w in self._kernels(wrapped)])

  def _ranked(self, key, base, wrapped):
    """Loads the weights to rank (those `key` trained) into `base`."""
    weights_lib.load_model_weights(self._layout.final_weights(key), base)
    return [w.numpy() for w in self._kernels(wrapped)]

  def _magnitude(self, recipe, level, base, wrapped):
    """Returns (masks, thresholds, previous masks) of a lineage of its own."""
    pruning = self._config.pruning
    structure = bound_structure(self._config, base, wrapped)
    ranked = self._ranked(lineage.ranked(self._config, recipe, level).key,
                          base, wrapped)
    source = lineage.masks(self._config, recipe, level)
    previous = (masks_lib.ones_like(ranked) if source is None
                else self._read(source.key, wrapped))
    if pruning.schedule == "oneshot":
      new = structure.target_masks(ranked, pruning.expected_sparsity(level),
                                   pruning.scope)
    else:
      fraction = pruning.fraction
      if pruning.layer_fractions:
        fraction = [pruning.fraction_of(n) for n in prunable_names(wrapped)]
      new = structure.iterative_masks(ranked, previous, fraction,
                                      pruning.scope)
    reached, asked = masks_lib.sparsity(new), pruning.expected_sparsity(level)
    if not pruning.layer_fractions and abs(reached - asked) > 0.02:
      logging.warning(
          "%s level %d: the %s structure prunes %.1f%% of the weights, not "
          "the %.1f%% asked (whole groups, and no layer loses its last "
          "channel); the row gives the sparsity reached.", recipe.name, level,
          pruning.structure, 100 * reached, 100 * asked)
    return new, [pruning_threshold(w, m) for w, m in zip(ranked, new)], previous

  def masks(self, recipe, level, base, wrapped):
    """Returns the masks of `recipe` at `level`, computing and writing them once.

    Args:
      recipe: The `Recipe`.
      level: The pruned level (1-based).
      base: The base model (its weights may be overwritten).
      wrapped: The wrapped model whose prunable kernels the masks cover.

    Returns:
      The masks, one array per prunable kernel.
    """
    key = layout_lib.StageKey(recipe.name, level)
    if os.path.exists(self._layout.masks(key)):
      return self._read(key, wrapped)
    if recipe.masks_from:  # a branch: the source's masks at this level
      source = lineage.masks(self._config, recipe, level).key
      new = self._read(source, wrapped)
      previous = masks_lib.ones_like(new)
      thresholds = list(artifacts.read_json(
          self._layout.thresholds(source)).values())
    else:
      new, thresholds, previous = self._magnitude(recipe, level, base, wrapped)
    if recipe.mask == "random":
      rng = np.random.default_rng(
          [self._config.train.seed, level, zlib.crc32(recipe.name.encode())])
      new = bound_structure(self._config, base, wrapped).random_masks(
          new, previous, rng)
      thresholds = [None] * len(new)  # no magnitude threshold
    names = prunable_names(wrapped)
    artifacts.write_json(self._layout.thresholds(key),
                         dict(zip(names, thresholds)))
    weights_lib.save_arrays(
        self._layout.masks(key), new,
        [f"{name}.{w.name.split('/')[-1].split(':')[0]}"
         for name, w in zip(names, self._kernels(wrapped))])
    return new


  def apply(self, base, wrapped, masks):
    """Sets `masks` on `wrapped`, zeroing what they prune.

    The kernels' pruned entries, and under the channel structure the pruned
    channels' biases and BatchNormalization gamma and beta, which stay
    exactly zero through training (`wrapper.set_pruned_channels`).
    """
    wrapper.set_masks(wrapped, masks)
    wrapper.set_pruned_channels(wrapped, bound_structure(
        self._config, base, wrapped).pruned_channels(masks))

  def costs(self, model, wrapped, masks):
    """Returns a ticket's row columns `channels_removed`, `flops_remaining`.

    `flops_remaining` is the fraction of the dense network's multiply-adds
    (`export/flops.py`) its kept weights do: a masked layer's multiply-adds
    times the fraction of its kernel kept. For a channel ticket that is the
    compacted network's count; for other structures, a sparse kernel's.

    Args:
      model: A fresh, unwrapped build of the network (a wrapped model's base
        has its layers called again by the wrapped clone, which would count
        twice).
      wrapped: A wrapped model (its prunable kernels, in mask order).
      masks: The ticket's masks.
    """
    kept = dict(zip(prunable_names(wrapped), masks))
    dense = left = 0.0
    for layer in model.layers:
      macs = flops.layer_macs(layer)
      dense += macs
      mask = kept.get(layer.name)
      left += macs if mask is None else (
          macs * np.count_nonzero(mask) / max(np.size(mask), 1))
    return {"channels_removed": bound_structure(
        self._config, model, wrapped).channels_removed(masks),
            "flops_remaining": left / dense if dense else 1.0}
