"""Channel groups as slices of the prunable kernels, in NumPy masks.

What the channel structure (`channels.py`) does to masks: a group's slices
(its producers' `kernel[..., c]`, its consumers' `kernel[..., c, :]`), zeroing
them, telling which groups a mask prunes, ranking the alive groups, and
pruning them to a count of weights, globally or unit by unit (a unit: the
groups that share their producer layers). Masks are lists of boolean arrays,
one per prunable kernel, changed in place.
"""

import numpy as np

from kdticket_tf.pruning import masks as masks_lib


class GroupSlices:
  """The channel groups of a model, as slices of its prunable kernels.

  Attributes:
    groups: The `ChannelGroup`s whose every layer is a prunable kernel.
    units: `(producer layer names, [group index, ...])` in model order.
  """

  def __init__(self, graph, prunable):
    """Finds each group's slices.

    Args:
      graph: The model's `ChannelGraph`.
      prunable: The layer name of each prunable kernel, in mask order.
    """
    position = {}
    for index, name in enumerate(prunable):
      position.setdefault(name, index)
    self.graph = graph
    self.groups = [g for g in graph.groups
                   if all(n in position for n, _ in g.producers + g.consumers)]
    self.producers = [[(position[n], c) for n, c in g.producers]
                      for g in self.groups]
    self._consumers = [[(position[n], c) for n, c in g.consumers]
                       for g in self.groups]
    units = {}
    for index, group in enumerate(self.groups):
      units.setdefault(tuple(n for n, _ in group.producers), []).append(index)
    self.units = list(units.items())

  def slices(self, group):
    """`(kernel position, index)` of each slice of `group`."""
    return ([(a, (Ellipsis, c)) for a, c in self.producers[group]] +
            [(a, (Ellipsis, c, slice(None))) for a, c in
             self._consumers[group]])

  def zero(self, keep, group):
    """Prunes `group` in `keep`; returns the count of entries newly zeroed."""
    count = 0
    for position, index in self.slices(group):
      count += int(np.count_nonzero(keep[position][index]))
      keep[position][index] = False
    return count

  def pruned(self, keep):
    """Whether each group is pruned: its producers' slices are all zero."""
    return np.array([not any(keep[a][..., c].any() for a, c in producers)
                     for producers in self.producers], bool)

  def order(self, weights, keep, refill):
    """The alive groups, least important first (ties in model order)."""
    count = len(self.groups)
    l1, kept = np.zeros(count), np.zeros(count)
    for g, producers in enumerate(self.producers):
      total = alive = survived = 0.0
      for a, c in producers:
        live = keep[a][..., c]
        total += float(np.abs(np.asarray(weights[a])[..., c])[live].sum())
        alive += float(live.sum())
        if refill is not None:
          survived += float(np.count_nonzero(np.asarray(refill[a])[..., c]))
      l1[g], kept[g] = total / max(alive, 1.0), survived / max(alive, 1.0)
    keys = (np.arange(count), l1) + ((kept,) if refill is not None else ())
    pruned = self.pruned(keep)
    return [g for g in np.lexsort(keys) if not pruned[g]]

  def prune(self, weights, keep, target, scope, refill, rates=None):
    """Prunes alive groups of `keep` to `target` zeros; returns the masks.

    Args:
      weights: The kernels ranked (`l1`).
      keep: Boolean masks, changed in place.
      target: The count of zero entries to come nearest to.
      scope: `global` or `layerwise`.
      refill: The unstructured masks of the `refill` criterion, or None.
      rates: Layer-wise only: one fraction of a unit's alive channels per
        kernel (a unit takes its first producer's), instead of `target`.
    """
    order = self.order(weights, keep, refill)
    if scope == "global":
      self._prune_global(keep, order, target)
    elif scope == "layerwise":
      self._prune_layerwise(keep, order, target, rates)
    else:
      raise ValueError(f"scope={scope!r} is not 'global' or 'layerwise'.")
    return [k.astype(np.float32) for k in keep]

  def _prune_global(self, keep, order, target):
    """Prunes groups in `order` while that brings the zeros nearer `target`."""
    zeros = sum(k.size - int(np.count_nonzero(k)) for k in keep)
    alive = dict(self.graph.widths)
    pruned = self.pruned(keep)
    for group in (g for g, p in zip(self.groups, pruned) if p):
      for name, _ in group.producers:
        alive[name] -= 1
    for g in order:
      if zeros >= target:
        break
      layers = [name for name, _ in self.groups[g].producers]
      if any(alive[name] <= layers.count(name) for name in layers):
        continue  # it would leave a layer without a channel
      saved = [(a, index, keep[a][index].copy())
               for a, index in self.slices(g)]
      new = self.zero(keep, g)
      if zeros + new > target and zeros + new - target >= target - zeros:
        for a, index, value in saved:
          keep[a][index] = value
        break
      zeros += new
      for name in layers:
        alive[name] -= 1

  def _prune_layerwise(self, keep, order, target, rates):
    """Each unit prunes one fraction of its alive channels (see module doc)."""
    rank = {g: i for i, g in enumerate(order)}
    units = [sorted((g for g in members if g in rank), key=rank.get)
             for _, members in self.units]
    firsts = [self.producers[members[0]][0][0] for _, members in self.units]

    def applied(counts):
      trial = [k.copy() for k in keep]
      for unit, count in zip(units, counts):
        for g in unit[:count]:
          self.zero(trial, g)
      return trial, sum(k.size - int(np.count_nonzero(k)) for k in trial)

    def counts(rate_of):
      return [min(masks_lib.round_half_up(rate_of(i) * len(unit)),
                  max(len(unit) - 1, 0)) for i, unit in enumerate(units)]

    if rates is not None:
      chosen, _ = applied(counts(lambda i: rates[firsts[i]]))
    else:
      rates = sorted({0.0} | {(j - 0.5) / len(u) for u in units
                              for j in range(1, len(u) + 1)})
      low, high = 0, len(rates) - 1  # find the first rate reaching target
      while low < high:
        middle = (low + high) // 2
        if applied(counts(lambda i, r=rates[middle]: r))[1] >= target:
          high = middle
        else:
          low = middle + 1
      chosen, zeros = applied(counts(lambda i: rates[low]))
      if low and zeros != target:
        fewer, fewer_zeros = applied(counts(lambda i: rates[low - 1]))
        if abs(fewer_zeros - target) <= abs(zeros - target):
          chosen = fewer
    for k, value in zip(keep, chosen):
      k[...] = value
