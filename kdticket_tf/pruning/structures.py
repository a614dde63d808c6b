"""Sparsity structures: how a structure groups the weights a mask keeps or prunes.

A structure (`PruningConfig.structure`) decides which
weights are kept or pruned together:

* `unstructured`: every weight alone (the default; `masks.py` unchanged).
* `1x4`, `1x16`: blocks of 4 or 16 consecutive *input* weights of one output
  unit, kept or pruned as one. A Dense kernel `[in, out]` has the blocks
  `kernel[b*j : b*j + b, o]` (TFLite stores the weight as `[out, in]`, so these
  are its 1x4 / 1x16 blocks along a row: the layouts of its sparse
  FULLY_CONNECTED kernels, float for 1x4 and int8 for 1x16). A conv kernel
  `[h, w, in, out]` is blocked along its input channels the same way, at each
  spatial position and output channel.
* `2:4`: in every group of 4 consecutive input weights, the 2 largest |w| are
  kept (TF-MOT's `sparsity_m_by_n=(2, 4)`, with zeros counted per group rather
  than per tensor; Ampere GPUs run this layout fast).

A block's magnitude is the mean |w| of its weights (TF-MOT's `AVG` block
pooling). Blocks are ranked with the same rules as single weights (`masks.py`):
a stable sort in model order, globally or per layer, and pruned smallest first,
as many as bring the pruned *weight* count nearest to the one asked for, so the
nominal sparsity is reached within one block.

Padding: when the block does not divide the input dimension, the last block of
each row is shorter (TF-MOT pads with `SAME` average pooling, which averages
only the real weights, then slices the mask back): its magnitude is the mean
of its real weights, and it is kept or pruned as one. Under `2:4` a short last
group keeps min(2, its size) weights, as TF-MOT's zero-padded top-2 does.

`2:4` fixes the sparsity at 50% in every layer, so it combines with exactly
one pruned level at 50% (`target_sparsities=0.5` one-shot, or `levels=1` with
`fraction=0.5`); `PruningConfig` refuses anything else before training, and
global and layer-wise ranking give the same 2:4 mask.

`random_prune` under a block structure keeps, in each layer, as many blocks as
its source mask, drawn uniformly among the blocks alive; under `2:4` it keeps 2
random weights of every group of 4.

* `channel`: whole output units of Dense layers and filters of convolutions,
  with what is coupled to them (`channels.py`). It needs the model's graph, so
  every structure is bound to the model before it computes masks
  (`bind(model, prunable, keep_dense, criterion)`); the structures above need
  nothing of it and return themselves. A bound structure also says which
  channels' biases and BatchNormalization parameters go with the masks
  (`pruned_channels`), the fraction of channels removed, and refuses
  per-layer fractions it cannot run (`check_rates`).
"""

import dataclasses
from typing import Optional

import numpy as np

from kdticket_tf.pruning import channels
from kdticket_tf.pruning import masks as masks_lib

UNSTRUCTURED = "unstructured"
CHANNEL = channels.NAME
CHANNEL_CRITERIA = channels.CRITERIA


@dataclasses.dataclass(frozen=True)
class Structure:
  """A sparsity structure.

  Attributes:
    name: The setting's value (`unstructured`, `1x4`, `1x16`, `2:4`; the
      `channel` structure is `channels.ChannelStructure`).
    block: Consecutive input weights grouped together (1: single weights).
    keep_per_group: For an N:M structure, N, the weights kept per group of
      `block`; None for block structures, whose groups are kept or pruned whole.
  """
  name: str
  block: int
  keep_per_group: Optional[int] = None
  compacts = False  # its tickets keep every channel: nothing to compact

  @property
  def fixed_sparsity(self):
    """The sparsity an N:M structure imposes on every layer (None: any)."""
    if self.keep_per_group is None:
      return None
    return 1.0 - self.keep_per_group / self.block

  def bind(self, model, prunable, keep_dense=(), criterion="l1"):
    """This structure: it needs nothing of the model (see `channels.py`)."""
    del model, prunable, keep_dense, criterion
    return self

  def pruned_channels(self, masks):
    """No channel goes whole: no bias or BatchNormalization is masked."""
    del masks
    return {}

  def channels_removed(self, masks):
    """No channel is removed whole."""
    del masks
    return 0.0

  def check_rates(self, levels, fractions):
    """Every per-layer fraction runs (`PruningConfig` checks their range)."""
    del levels, fractions

  def describe(self):
    """Nothing to log."""
    return []

  def target_masks(self, weights, sparsity, scope="global"):
    """One-shot masks of `weights` at `sparsity` (see `masks.target_masks`)."""
    if self.name == UNSTRUCTURED:
      return masks_lib.target_masks(weights, sparsity, scope)
    if not 0.0 <= sparsity < 1.0:
      raise ValueError(f"sparsity={sparsity} must be in [0, 1).")
    if self.keep_per_group is not None:
      self._check_fixed(sparsity)
      return [self._n_of_m(w) for w in weights]
    return self._prune(weights, masks_lib.ones_like(weights),
                       lambda alive, total: masks_lib.round_half_up(
                           sparsity * total),
                       scope)

  def iterative_masks(self, weights, masks, fraction, scope="global"):
    """One IMP step over blocks (see `masks.iterative_masks`)."""
    if self.name == UNSTRUCTURED:
      return masks_lib.iterative_masks(weights, masks, fraction, scope)
    fractions = masks_lib.check_fractions(fraction, len(weights), scope)
    if self.keep_per_group is not None:
      if np.any(np.asarray([np.count_nonzero(m) < np.size(m) for m in masks])):
        raise ValueError(
            f"The {self.name} structure prunes once, from dense masks; got "
            "masks that already prune weights.")
      self._check_fixed(float(fractions[0]))
      return [self._n_of_m(w) for w in weights]
    counts = [lambda alive, total, f=f: masks_lib.round_half_up(f * alive)
              for f in fractions]
    return self._prune(weights, masks, counts, scope)

  def random_masks(self, reference_masks, previous_masks, rng):
    """Random masks with the per-layer block counts of `reference_masks`."""
    if self.name == UNSTRUCTURED:
      return masks_lib.random_masks(reference_masks, previous_masks, rng)
    result = []
    for reference, previous in zip(reference_masks, previous_masks):
      ids, count = group_ids(np.shape(previous), self.block)
      if self.keep_per_group is not None:
        result.append(self._n_of_m(rng.random(np.shape(previous))))
        continue
      alive = np.flatnonzero(self._group_keep(previous, ids, count))
      keep_count = int(np.count_nonzero(self._group_keep(reference, ids,
                                                         count)))
      if keep_count > alive.size:
        raise ValueError(f"Cannot keep {keep_count} blocks of a layer with "
                         f"only {alive.size} alive.")
      keep = np.zeros(count, bool)
      keep[rng.choice(alive, size=keep_count, replace=False)] = True
      result.append(keep[ids].astype(np.float32))
    return result

  def is_aligned(self, mask):
    """True when `mask` follows the structure (whole blocks, N of every M)."""
    if self.name == UNSTRUCTURED:
      return True
    ids, count = group_ids(np.shape(mask), self.block)
    kept = np.bincount(ids.ravel(), (np.asarray(mask) > 0).ravel(), count)
    sizes = np.bincount(ids.ravel(), minlength=count)
    if self.keep_per_group is not None:
      return bool(np.all(kept == np.minimum(sizes, self.keep_per_group)))
    return bool(np.all((kept == 0) | (kept == sizes)))

  def _check_fixed(self, sparsity):
    if abs(sparsity - self.fixed_sparsity) > 1e-9:
      raise ValueError(
          f"The {self.name} structure prunes exactly {self.fixed_sparsity:.0%} "
          f"of every layer; sparsity {sparsity} cannot be reached with it.")

  def _group_keep(self, mask, ids, count):
    """Per-block keep flags of a block-aligned `mask`."""
    kept = np.bincount(ids.ravel(), (np.asarray(mask) > 0).ravel(), count)
    sizes = np.bincount(ids.ravel(), minlength=count)
    if np.any((kept != 0) & (kept != sizes)):
      raise ValueError(
          f"A mask of shape {np.shape(mask)} is not aligned to {self.name} "
          "blocks: some block is partly kept.")
    return kept == sizes

  def _n_of_m(self, weight):
    """Keeps the `keep_per_group` largest |w| of every group (stable ties)."""
    ids, count = group_ids(np.shape(weight), self.block)
    flat_ids = ids.ravel()
    magnitude = np.abs(np.asarray(weight, np.float64)).ravel()
    # Order by group, then by decreasing magnitude (earlier weight first on
    # ties); the first `keep_per_group` of every group are kept.
    order = np.lexsort((np.arange(flat_ids.size), -magnitude, flat_ids))
    starts = np.searchsorted(flat_ids[order], np.arange(count))
    rank = np.arange(flat_ids.size) - starts[flat_ids[order]]
    keep = np.zeros(flat_ids.size, np.float32)
    keep[order[rank < self.keep_per_group]] = 1.0
    return keep.reshape(np.shape(weight))

  def _prune(self, weights, masks, counts, scope):
    """Prunes whole blocks, the count of weights chosen by `counts`."""
    masks_lib._check_lists(weights, masks)  # pylint: disable=protected-access
    if not isinstance(counts, list):
      counts = [counts]
    layers = []
    for weight, mask in zip(weights, masks):
      ids, count = group_ids(np.shape(weight), self.block)
      sizes = np.bincount(ids.ravel(), minlength=count)
      magnitude = np.bincount(ids.ravel(), np.abs(weight).ravel(),
                              count) / sizes
      layers.append((ids, sizes, magnitude,
                     self._group_keep(mask, ids, count)))
    if scope == "global":
      sizes = np.concatenate([s for _, s, _, _ in layers])
      alive = np.concatenate([a for _, _, _, a in layers])
      keep = _prune_blocks(
          np.concatenate([m for _, _, m, _ in layers]), sizes, alive,
          counts[0](int(sizes[alive].sum()), int(sizes.sum())))
      bounds = np.cumsum([0] + [s.size for _, s, _, _ in layers])
      keeps = [keep[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    elif scope == "layerwise":
      keeps = [_prune_blocks(m, s, a, counts[i % len(counts)](
          int(s[a].sum()), int(s.sum())))
               for i, (_, s, m, a) in enumerate(layers)]
    else:
      raise ValueError(f"scope={scope!r} is not 'global' or 'layerwise'.")
    return [k[ids].astype(np.float32) for k, (ids, _, _, _) in zip(keeps, layers)]


def _prune_blocks(magnitudes, sizes, alive, count):
  """Keep flags with the smallest alive blocks pruned, ~`count` weights in all.

  Blocks are pruned smallest mean magnitude first (stable in model order); the
  number pruned is the one whose weight count is nearest to `count` (fewer on
  a tie), so the nominal sparsity is met within one block.
  """
  keep = alive.copy()
  if count <= 0:
    return keep
  alive_index = np.flatnonzero(alive)
  order = alive_index[np.argsort(magnitudes[alive_index], kind="stable")]
  pruned = np.concatenate([[0], np.cumsum(sizes[order])])
  keep[order[:int(np.argmin(np.abs(pruned - count)))]] = False
  return keep


def group_ids(shape, block):
  """The block of every weight of a kernel of `shape`.

  Kernels of rank 2 or more are blocked along their input axis (the
  second-to-last: `[in, out]` Dense, `[h, w, in, out]` conv); the last block of
  a row is shorter when `block` does not divide the input size. A rank-0 or
  rank-1 weight is one block per weight.

  Args:
    shape: The kernel's shape.
    block: Consecutive input weights per block.

  Returns:
    `(ids, count)`: an int array of `shape` with each weight's block index (in
    the order of the kernel's output units, then input position) and the
    number of blocks.
  """
  shape = tuple(int(d) for d in shape)
  if len(shape) < 2 or block == 1:
    return np.arange(int(np.prod(shape))).reshape(shape), int(np.prod(shape))
  inputs = shape[-2]
  per_row = -(-inputs // block)
  rows = int(np.prod(shape)) // inputs
  # ids over a [..., out, in] view, then the input axis moved back in place.
  view = (np.arange(rows)[:, None] * per_row +
          np.arange(inputs)[None, :] // block)
  moved = view.reshape(shape[:-2] + (shape[-1], inputs))
  return np.moveaxis(moved, -1, -2), rows * per_row


_STRUCTURES = {
    UNSTRUCTURED: Structure(UNSTRUCTURED, 1),
    "1x4": Structure("1x4", 4),
    "1x16": Structure("1x16", 16),
    "2:4": Structure("2:4", 4, keep_per_group=2),
    channels.NAME: channels.CHANNELS,
}


def names():
  """The accepted structure names."""
  return tuple(_STRUCTURES)


def get(name):
  """Returns the `Structure` called `name`.

  Raises:
    ValueError: for a name that is not a structure.
  """
  if name not in _STRUCTURES:
    raise ValueError(f"Sparsity structure {name!r} is not supported; choose one "
                     f"of: {', '.join(repr(n) for n in _STRUCTURES)}.")
  return _STRUCTURES[name]
