"""The `channel` structure: whole units and filters, pruned with what they feed.

A channel of a Dense, Conv1D or Conv2D layer is kept or pruned whole, with
everything coupled to it (`channel_groups.py`): the output channel of each
producer, the BatchNormalization after it, the input slice of each consumer,
the same channel of every layer a residual Add joins. Its masks are those of
every structure, one per prunable kernel: a pruned group zeroes its
producers' `kernel[..., c]` and its consumers' input slices `kernel[..., c, :]`.
The pruned channels' biases and BatchNormalization gamma and beta go with
them (`pruned_channels`; `wrapper.set_pruned_channels` holds them at 0.0), so
a pruned channel's output is exactly zero.

The groups come from the model, so the structure is bound to it first:
`CHANNELS.bind(model, prunable, keep_dense, criterion)` returns a
`BoundChannels`, which computes masks as every structure does.

Targets are fractions of the prunable kernels' weights, as for every
structure. The weights a group prunes are the entries of its slices still
alive, each counted once (a producer's and a consumer's slice of one kernel
cross).

* `global`: every group is ranked together and pruned smallest first, as
  many as bring the weights pruned nearest the target (within one group).
* `layerwise`: groups fall in units, the producer layers they share (one
  layer, or the layers of one residual stream). Every unit removes the same
  fraction of its alive channels (Li et al.'s uniform per-layer pruning), the
  fraction chosen so that the weights pruned are nearest the target. Per-layer
  fractions (`PruningConfig.layer_fractions`) are, under this structure,
  fractions of a unit's alive channels per level (the unit named by its first
  producer layer), and the weights pruned are what they give.
* Under IMP a level removes that fraction of the weights still alive.

Ranking (`criterion`):

* `l1` (Li et al. 2017): the L1 norm of the producers' kernel slices, per
  alive weight (their mean |w|, so that layers of different fan-in compare
  under global ranking, as blocks compare by their mean |w|).
* `refill` (Chen et al. 2022): the fraction of the producers' weights kept
  by an unstructured magnitude mask at the same sparsity and scope; ties go
  by `l1`. Ties of either go in model order.

No producer layer is ever left without a channel: global ranking skips a
group that would remove a layer's last channel, and a unit keeps at least one
of its groups. `random_prune` keeps, in each unit, as many groups as its
source mask, drawn uniformly among the alive ones: the same channel count per
producer layer.
"""

import numpy as np

from kdticket_tf.pruning import channel_groups
from kdticket_tf.pruning import channel_masks
from kdticket_tf.pruning import masks as masks_lib

NAME = "channel"
CRITERIA = ("l1", "refill")


class ChannelStructure:
  """The `channel` structure before it knows the model's groups."""

  name = NAME
  fixed_sparsity = None
  compacts = True  # its tickets are exported narrower (export/compaction.py)

  def bind(self, model, prunable, keep_dense=(), criterion="l1"):
    """Returns the structure bound to `model`'s channel groups.

    Args:
      model: The built, unwrapped tf_keras model.
      prunable: The layer name of each prunable kernel, in mask order.
      keep_dense: Regular expressions of layers left dense.
      criterion: `l1` or `refill`.

    Raises:
      ValueError: when no channel of the model can be pruned.
    """
    if criterion not in CRITERIA:
      raise ValueError(f"Channel criterion {criterion!r} is not one of "
                       f"{', '.join(repr(c) for c in CRITERIA)}.")
    # pylint: disable-next=protected-access
    outputs = {t._keras_history.layer.name for t in model.outputs}
    bound = BoundChannels(channel_groups.find(model, keep_dense), prunable,
                          outputs, criterion)
    if not bound.groups:
      raise ValueError(_nothing_to_prune(model.name, bound.graph, prunable,
                                         outputs, keep_dense))
    return bound

  def _unbound(self, *args, **kwargs):
    del args, kwargs
    raise ValueError(
        "The channel structure prunes the coupled channel groups of a model; "
        "bind it to the model first (CHANNELS.bind(model, prunable)).")

  target_masks = iterative_masks = random_masks = _unbound


CHANNELS = ChannelStructure()


def _nothing_to_prune(model_name, graph, prunable, outputs, keep_dense):
  """The sentence refusing a model with no prunable channel."""
  hidden = [n for n in dict.fromkeys(prunable) if n not in outputs]
  start = (f"PruningConfig.structure='channel' finds no channel to prune in "
           f"model {model_name!r}: ")
  fix = ("; choose another PruningConfig.structure (such as 'unstructured')"
         " or give the model a hidden Dense or Conv layer whose channels can "
         "be pruned.")
  if not hidden:
    named = ", ".join(repr(n) for n in dict.fromkeys(prunable))
    return (start + f"its only prunable layer, {named}, is the model's output,"
            " whose classes are never pruned" + fix)
  reasons = ([f"PruningConfig.keep_dense={list(keep_dense)}"]
             if keep_dense else [])
  if graph.unfollowed:
    reasons.append("layers the grouping cannot follow "
                   f"({', '.join(graph.unfollowed)})")
  return (start + f"the channels of {', '.join(hidden)} stay dense (" +
          (" and ".join(reasons) or "they reach the output") + ")" + fix)


class BoundChannels:
  """The channel structure bound to one model's groups (see the module doc).

  Attributes:
    graph: The model's `ChannelGraph`.
    groups: The groups whose every layer is among the prunable kernels.
  """

  name = NAME
  fixed_sparsity = None

  def __init__(self, graph, prunable, outputs, criterion="l1"):
    self.graph = graph
    self._slices = channel_masks.GroupSlices(graph, prunable)
    self.groups = self._slices.groups
    self._criterion = criterion
    self._hidden = {n: w for n, w in graph.widths.items() if n not in outputs}

  def target_masks(self, weights, sparsity, scope="global"):
    """One-shot masks pruning `sparsity` of the weights in whole channels."""
    if not 0.0 <= sparsity < 1.0:
      raise ValueError(f"sparsity={sparsity} must be in [0, 1).")
    keep = [np.ones(np.shape(w), bool) for w in weights]
    target = masks_lib.round_half_up(sparsity * sum(k.size for k in keep))
    refill = (masks_lib.target_masks(weights, sparsity, scope)
              if self._criterion == "refill" else None)
    return self._slices.prune(weights, keep, target, scope, refill)

  def iterative_masks(self, weights, masks, fraction, scope="global"):
    """One IMP step: prunes `fraction` of the alive weights in whole channels.

    A list of fractions (one per kernel, layer-wise) gives each unit its
    first producer's fraction of its alive channels instead.
    """
    fractions = masks_lib.check_fractions(fraction, len(weights), scope)
    masks_lib._check_lists(weights, masks)  # pylint: disable=protected-access
    keep = [np.asarray(m) > 0 for m in masks]
    alive = sum(int(np.count_nonzero(k)) for k in keep)
    target = (sum(k.size for k in keep) - alive +
              masks_lib.round_half_up(fractions[0] * alive))
    refill = (masks_lib.iterative_masks(weights, masks, fraction, scope)
              if self._criterion == "refill" else None)
    rates = fractions if np.ndim(fraction) else None
    return self._slices.prune(weights, keep, target, scope, refill, rates)

  def random_masks(self, reference_masks, previous_masks, rng):
    """Random channels: each unit keeps as many groups as its reference."""
    # pylint: disable-next=protected-access
    masks_lib._check_lists(reference_masks, previous_masks)
    reference = self._slices.pruned([np.asarray(m) > 0
                                     for m in reference_masks])
    keep = [np.asarray(m) > 0 for m in previous_masks]
    previous = self._slices.pruned(keep)
    for unit, members in self._slices.units:
      alive = [g for g in members if not previous[g]]
      kept = sum(1 for g in members if not reference[g])
      if kept > len(alive):
        raise ValueError(f"Cannot keep {kept} channels of {unit[0]!r} with "
                         f"only {len(alive)} alive.")
      chosen = set(rng.choice(alive, size=kept, replace=False).tolist())
      for g in alive:
        if g not in chosen:
          self._slices.zero(keep, g)
    return [k.astype(np.float32) for k in keep]

  def pruned_channels(self, masks):
    """`{layer: [channel, ...]}`: the pruned producers' and followers'
    channels, whose biases and BatchNormalization parameters are zeroed."""
    found = {}
    pruned = self._slices.pruned([np.asarray(m) > 0 for m in masks])
    for group in (g for g, p in zip(self.groups, pruned) if p):
      for name, channel in group.producers + group.followers:
        found.setdefault(name, []).append(channel)
    return {name: sorted(channels) for name, channels in found.items()}

  def channels_removed(self, masks):
    """The fraction of the hidden layers' channels that `masks` prune."""
    total = sum(self._hidden.values())
    removed = sum(len(c) for n, c in self.pruned_channels(masks).items()
                  if n in self._hidden)
    return removed / total if total else 0.0

  def check_rates(self, levels, fractions):
    """Refuses per-layer fractions that would prune all of a unit's channels.

    Args:
      levels: The pruned levels of the run.
      fractions: One fraction per prunable kernel (layer-wise IMP), or None.

    Raises:
      ValueError: naming the layer, its fraction and the level.
    """
    if fractions is None:
      return
    for unit, members in self._slices.units:
      rate = fractions[self._slices.producers[members[0]][0][0]]
      alive = len(members)
      for level in range(1, levels + 1):
        alive -= masks_lib.round_half_up(rate * alive)
        if alive <= 0:
          raise ValueError(
              f"PruningConfig.layer_fractions gives {unit[0]!r} the fraction "
              f"{rate:g} per level, which under "
              "PruningConfig.structure='channel' is a fraction of its "
              f"channels: it would prune all {len(members)} of its prunable "
              f"channels by level {level}, and a layer keeps at least one; "
              "give it a fraction below 0.5 (which never empties a layer) or "
              "run fewer levels.")

  def describe(self):
    """Lines for the log: each producer's prunable channels, what is skipped."""
    return channel_groups.describe(self.graph)
