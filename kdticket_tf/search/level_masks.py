"""The masks of a recipe at a level: lineages, one-shot targets, branches.

* A lineage under iterative pruning (IMP) removes `fraction` of the weights its
  previous level kept, ranked by the weights that level trained; level 1 ranks
  the dense final weights θT (which stage gives which: `lineage.py`).
* Under one-shot pruning every level prunes θT to its target sparsity, so every
  magnitude recipe has the same mask at a level.
* A branch (`Recipe.masks_from`) takes its source recipe's masks at the same
  level: as they are, or as the per-layer counts of a random mask.
* Weights are ranked and kept alone or in blocks, as `PruningConfig.structure`
  says (`structures.py`); a random mask keeps the source's block count per layer.

A stage computes its masks once and writes them, with the magnitude below which
each layer was pruned, into its own folder; a resumed stage reads them back.
"""

import os
import zlib

import numpy as np

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
    structure = structures.get(pruning.structure)
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
      new = structures.get(self._config.pruning.structure).random_masks(
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

