"""Magnitude and random masks, computed in NumPy from lists of weight arrays.

Masks are float arrays of 0.0 and 1.0 with the shapes of the prunable kernels.
Ranking is deterministic: weights are ordered by magnitude with a stable sort over
the kernels concatenated in model order, so among equal magnitudes the one that
comes first is pruned first, and exactly the requested number of weights is
removed (no threshold ties that prune a few more).
"""

import numpy as np


def _check_lists(weights, masks):
  if len(weights) != len(masks):
    raise ValueError(
        f"Got {len(weights)} weight arrays but {len(masks)} masks; they must "
        "pair up one to one.")
  for index, (weight, mask) in enumerate(zip(weights, masks)):
    if np.shape(weight) != np.shape(mask):
      raise ValueError(
          f"Weight {index} has shape {np.shape(weight)} but its mask has "
          f"shape {np.shape(mask)}.")


def round_half_up(value):
  """`value` rounded to the nearest integer, halves up (a count of weights)."""
  return int(np.floor(value + 0.5))


def ones_like(weights):
  """Returns all-ones masks (nothing pruned) for `weights`."""
  return [np.ones(np.shape(w), np.float32) for w in weights]


def _prune_smallest(magnitudes, alive, count):
  """Returns a flat keep vector with the `count` smallest alive entries removed."""
  keep = alive.copy()
  if count <= 0:
    return keep
  alive_index = np.flatnonzero(alive)
  order = np.argsort(magnitudes[alive_index], kind="stable")
  keep[alive_index[order[:count]]] = False
  return keep


def _prune(weights, masks, counts_fn, scope):
  """Prunes the weights chosen by `counts_fn(alive_count)` in each scope group."""
  _check_lists(weights, masks)
  if scope == "global":
    magnitudes = np.concatenate([np.abs(w).ravel() for w in weights])
    alive = np.concatenate([np.asarray(m).ravel() > 0 for m in masks])
    keep = _prune_smallest(magnitudes, alive, counts_fn(int(alive.sum()),
                                                        alive.size))
    sizes = np.cumsum([0] + [np.size(w) for w in weights])
    return [keep[a:b].reshape(np.shape(w)).astype(np.float32)
            for a, b, w in zip(sizes[:-1], sizes[1:], weights)]
  if scope == "layerwise":
    result = []
    for index, (weight, mask) in enumerate(zip(weights, masks)):
      alive = np.asarray(mask).ravel() > 0
      keep = _prune_smallest(np.abs(weight).ravel(), alive,
                             counts_fn(int(alive.sum()), alive.size, index))
      result.append(keep.reshape(np.shape(weight)).astype(np.float32))
    return result
  raise ValueError(f"scope={scope!r} is not 'global' or 'layerwise'.")


def check_fractions(fraction, arrays, scope):
  """Returns an IMP step's fractions as an array (one, or one per array).

  Raises:
    ValueError: for a fraction outside (0, 1), or a list of fractions that is
      not one per array (`arrays` of them) of a layer-wise step.
  """
  fractions = np.atleast_1d(np.asarray(fraction, np.float64))
  if np.ndim(fraction) and (scope != "layerwise" or len(fractions) != arrays):
    raise ValueError(
        f"Per-layer fractions need scope='layerwise' and one fraction per "
        f"array; got {len(fractions)} for {arrays} arrays with "
        f"scope={scope!r}.")
  if not np.all((fractions > 0.0) & (fractions < 1.0)):
    raise ValueError(f"fraction={fraction} must be strictly between 0 and 1.")
  return fractions


def iterative_masks(weights, masks, fraction, scope="global"):
  """One IMP step: removes `fraction` of the weights still alive.

  Args:
    weights: Arrays ranked by magnitude (the previous level's final weights).
    masks: The previous level's masks (1 alive, 0 pruned).
    fraction: Fraction of the alive weights to remove, rounded half up to a
      count (per scope group); for `layerwise`, also a list with one fraction
      per array.
    scope: `global` ranks all arrays together; `layerwise` ranks each alone.

  Returns:
    New masks, each a subset of the corresponding previous mask.

  Raises:
    ValueError: for a fraction outside (0, 1), or a list of fractions that is
      not one per array of a layer-wise step.
  """
  fractions = check_fractions(fraction, len(weights), scope)

  def count(alive, total, index=0):
    del total
    return round_half_up(fractions[index % len(fractions)] * alive)
  return _prune(weights, masks, count, scope)


def target_masks(weights, sparsity, scope="global"):
  """One-shot pruning of dense `weights` to `sparsity` (fraction pruned).

  Args:
    weights: Arrays ranked by magnitude (the dense final weights).
    sparsity: Fraction of the weights (per scope group) to remove.
    scope: `global` or `layerwise`.

  Returns:
    Masks with round(sparsity * size) zeros per scope group.
  """
  if not 0.0 <= sparsity < 1.0:
    raise ValueError(f"sparsity={sparsity} must be in [0, 1).")
  return _prune(weights, ones_like(weights),
                lambda alive, total, index=0: round_half_up(sparsity * total),
                scope)


def random_masks(reference_masks, previous_masks, rng):
  """Random masks with the per-layer counts of `reference_masks`.

  Each new mask keeps, in its layer, as many weights as the reference mask,
  chosen uniformly at random among the weights alive in `previous_masks` (so
  iterative random pruning stays nested).

  Args:
    reference_masks: Masks whose per-layer kept counts are copied.
    previous_masks: Masks whose alive weights may be kept.
    rng: A `numpy.random.Generator`.

  Returns:
    The random masks.
  """
  _check_lists(reference_masks, previous_masks)
  result = []
  for reference, previous in zip(reference_masks, previous_masks):
    alive_index = np.flatnonzero(np.asarray(previous).ravel() > 0)
    keep_count = int(np.count_nonzero(reference))
    if keep_count > alive_index.size:
      raise ValueError(
          f"Cannot keep {keep_count} weights of a layer with only "
          f"{alive_index.size} alive.")
    keep = np.zeros(np.size(previous), np.float32)
    keep[rng.choice(alive_index, size=keep_count, replace=False)] = 1.0
    result.append(keep.reshape(np.shape(previous)))
  return result


def sparsity(masks):
  """Returns the fraction of entries that are zero over all `masks`."""
  total = sum(np.size(m) for m in masks)
  if not total:
    return 0.0
  return 1.0 - sum(float(np.count_nonzero(m)) for m in masks) / total


def layer_sparsities(masks):
  """Returns the zero fraction of each mask."""
  return [1.0 - np.count_nonzero(m) / max(np.size(m), 1) for m in masks]
