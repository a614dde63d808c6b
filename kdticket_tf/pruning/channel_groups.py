"""Coupled channel groups of a functional model: what is pruned with a channel.

A channel of a Dense or convolution layer cannot be removed alone: the layers
that read it lose an input slice, the BatchNormalization after it its
parameters, and through a residual `Add` the same channel of every layer the
add joins goes too (Torch-Pruning's DepGraph). This module follows the
model's functional graph, tensor by tensor, and returns one `ChannelGroup`
per coupled channel: its producers (the kernels' output channels, with their
biases), followers (BatchNormalization gamma, beta and moving statistics) and
consumers (the kernels' input slices).

How each layer passes channels on:

* Dense, Conv1D, Conv2D produce new channels and consume their input's.
* BatchNormalization, activations, dropout, pooling (global too), padding and
  cropping pass channels through (BatchNormalization follows them).
* Add, Subtract, Multiply, Average, Maximum, Minimum join the same channel of
  each input into one group.
* Concatenate (on the channel axis) places each input's channels at its
  offset; Flatten after a convolution maps a channel to its spatial positions.
* Any other layer (Reshape, Lambda, LayerNormalization, a custom or nested
  layer, a layer used twice in the model) cannot be followed: the channels it reads stay
  dense, and the layer is named in `ChannelGraph.unfollowed`.

Channels that reach a model output (the classes), that come from the inputs,
or whose group touches a `keep_dense` layer are never pruned. Importing this
module does not import TensorFlow; it reads a built tf_keras model.
"""

import dataclasses
import re
from typing import Dict, List, Optional, Tuple

_PRODUCERS = ("Dense", "Conv1D", "Conv2D")
_PASS = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU",
         "ThresholdedReLU", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
         "GaussianNoise", "GaussianDropout", "AlphaDropout", "MaxPooling1D",
         "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
         "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
         "GlobalAveragePooling2D", "ZeroPadding1D", "ZeroPadding2D",
         "Cropping1D", "Cropping2D", "UpSampling1D", "UpSampling2D",
         "InputLayer")
_JOINS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

Slot = Tuple[str, int]  # (layer name, channel or input index)


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
  """One channel, coupled across layers: pruned whole or kept whole.

  Attributes:
    producers: `(layer, channel)`: the output channel of a kernel (its
      `kernel[..., channel]` and `bias[channel]`).
    followers: `(layer, channel)`: a BatchNormalization's parameters.
    consumers: `(layer, index)`: an input slice of a kernel (Dense
      `kernel[index, :]`, convolution `kernel[..., index, :]`); one channel
      read through a Flatten is several indices.
  """
  producers: Tuple[Slot, ...]
  followers: Tuple[Slot, ...] = ()
  consumers: Tuple[Slot, ...] = ()


@dataclasses.dataclass(frozen=True)
class ChannelGraph:
  """The coupled channels of a model.

  Attributes:
    groups: The groups that may be pruned, in model order.
    widths: `{producer layer: its number of output channels}`.
    unfollowed: The layers the grouping could not follow (their inputs'
      channels stay dense), in model order.
  """
  groups: Tuple[ChannelGroup, ...]
  widths: Dict[str, int]
  unfollowed: Tuple[str, ...]


class _Atoms:
  """Union-find over channel atoms `(producer, channel)`, with what each holds."""

  def __init__(self):
    self.parent = {}
    self.dense = set()
    self.followers = {}
    self.consumers = {}

  def add(self, atom):
    self.parent[atom] = atom
    self.followers[atom], self.consumers[atom] = [], []

  def find(self, atom):
    while self.parent[atom] != atom:
      self.parent[atom] = self.parent[self.parent[atom]]
      atom = self.parent[atom]
    return atom

  def union(self, first, second):
    first, second = self.find(first), self.find(second)
    if first != second:
      self.parent[second] = first

  def keep(self, channels):
    """Marks every atom among `channels` dense (None entries are no atom)."""
    self.dense |= {self.find(a) for a in channels if a is not None}


def _as_list(tensors):
  return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def _channels_last(layer):
  return getattr(layer, "data_format", "channels_last") == "channels_last"


def _follows(layer, kind, inputs):
  """Whether the grouping can follow `layer` (else its inputs stay dense)."""
  if kind in _PRODUCERS:
    return (_channels_last(layer) and getattr(layer, "groups", 1) == 1 and
            len(inputs) == 1)
  if kind == "BatchNormalization":
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    rank = len(inputs[0].shape)
    return axis in (-1, rank - 1, [-1], [rank - 1])
  if kind in _PASS:
    return _channels_last(layer)
  if kind in _JOINS:
    return True
  if kind == "Concatenate":
    return layer.axis in (-1, len(inputs[0].shape) - 1)
  if kind == "Flatten":
    return _channels_last(layer)
  return False


def find(model, keep_dense=()):
  """Returns the `ChannelGraph` of a built tf_keras functional model.

  Args:
    model: A built functional or Sequential tf_keras model.
    keep_dense: Regular expressions; a group touching a layer whose name
      matches one fully stays dense.
  """
  atoms = _Atoms()
  channels = {}  # id(tensor) -> [atom or None per channel]
  widths, unfollowed, order = {}, [], []
  for tensor in model.inputs:
    channels[id(tensor)] = [None] * int(tensor.shape[-1])
  pending = [layer for layer in model.layers
             if type(layer).__name__ != "InputLayer"]
  while pending:
    layer, node = next(((l, n) for l in pending
                        for n in [_ready_node(model, l, channels)] if n),
                       (None, None))
    if layer is None:
      raise ValueError(
          f"Model {model.name!r} has layers its inputs do not reach "
          f"({', '.join(l.name for l in pending)}); channel pruning needs "
          "every layer on a path from the inputs.")
    pending.remove(layer)
    order.append(layer.name)
    inputs = _as_list(node.input_tensors)
    reads = [channels[id(t)] for t in inputs]
    outputs = _as_list(node.output_tensors)
    kind = type(layer).__name__
    if len(calls(model, layer)) > 1 or not _follows(layer, kind, inputs):
      unfollowed.append(layer.name)  # shared, or unknown: its inputs stay
      for read in reads:
        atoms.keep(read)
      for tensor in outputs:
        channels[id(tensor)] = [None] * int(tensor.shape[-1])
      continue
    channels[id(outputs[0])] = _pass_on(layer, kind, reads, outputs, atoms,
                                        widths)
  for tensor in model.outputs:  # the classes
    atoms.keep(channels[id(tensor)])
  patterns = tuple(keep_dense)
  groups = _groups(atoms, patterns, order)
  return ChannelGraph(tuple(groups), widths, tuple(unfollowed))


def calls(model, layer):
  """The calls (nodes) of `layer` in `model`'s graph, not those of other
  models built from the same layer objects (a wrapped clone's)."""
  keys = getattr(model, "_network_nodes", None)
  if keys is None:
    return list(layer.inbound_nodes)
  # tf_keras names a model's nodes `<layer>_ib-<index>` (functional.py).
  return [node for index, node in enumerate(layer.inbound_nodes)
          if f"{layer.name}_ib-{index}" in keys]


def _ready_node(model, layer, channels):
  """The layer's call whose inputs all have their channels known, or None."""
  for node in calls(model, layer):
    if all(id(t) in channels for t in _as_list(node.input_tensors)):
      return node
  return None


def _pass_on(layer, kind, reads, outputs, atoms, widths):
  """Records what `layer` does to its inputs' channels; its output's channels."""
  if kind in _PRODUCERS:
    for index, atom in enumerate(reads[0]):
      if atom is not None:
        atoms.consumers[atom].append((layer.name, index))
    width = int(outputs[0].shape[-1])
    widths[layer.name] = width
    made = [(layer.name, c) for c in range(width)]
    for atom in made:
      atoms.add(atom)
    return made
  if kind == "BatchNormalization":
    for channel, atom in enumerate(reads[0]):
      if atom is not None:
        atoms.followers[atom].append((layer.name, channel))
    return list(reads[0])
  if kind in _JOINS:
    joined = []
    for slots in zip(*reads):
      present = [a for a in slots if a is not None]
      if len(present) < len(slots):  # an input's channel is not prunable
        atoms.keep(present)
      for atom in present[1:]:
        atoms.union(present[0], atom)
      joined.append(present[0] if present else None)
    return joined
  if kind == "Concatenate":
    return [atom for read in reads for atom in read]
  if kind == "Flatten":
    return list(reads[0]) * (int(outputs[0].shape[-1]) // len(reads[0]))
  return list(reads[0])  # channels pass through


def _matches_any(name, patterns):
  return any(re.fullmatch(pattern, name) for pattern in patterns)


def _groups(atoms, keep_dense, order):
  """The prunable groups, each from its atoms' union, in model order."""
  members: Dict[Slot, List[Slot]] = {}
  for atom in atoms.parent:
    members.setdefault(atoms.find(atom), []).append(atom)
  rank = {name: i for i, name in enumerate(order)}
  groups = []
  for root, slots in members.items():
    if root in atoms.dense:
      continue
    slots.sort(key=lambda s: (rank[s[0]], s[1]))
    group = ChannelGroup(
        producers=tuple(slots),
        followers=tuple(sorted((f for s in slots for f in atoms.followers[s]),
                               key=lambda f: (rank[f[0]], f[1]))),
        consumers=tuple(sorted((c for s in slots for c in atoms.consumers[s]),
                               key=lambda c: (rank[c[0]], c[1]))))
    touched = {name for name, _ in
               group.producers + group.followers + group.consumers}
    if any(_matches_any(name, keep_dense) for name in touched):
      continue
    groups.append(group)
  groups.sort(key=lambda g: (rank[g.producers[0][0]], g.producers[0][1]))
  return groups


def describe(graph: ChannelGraph, limit: Optional[int] = None):
  """Returns lines naming each producer's prunable channels and the layers
  the grouping could not follow (for logs)."""
  counts = {}
  for group in graph.groups:
    for name, _ in group.producers:
      counts[name] = counts.get(name, 0) + 1
  lines = [f"{name}: {counts.get(name, 0)} of {width} channels prunable"
           for name, width in graph.widths.items()]
  if graph.unfollowed:
    lines.append("channels read by these layers stay dense (the grouping "
                 f"cannot follow them): {', '.join(graph.unfollowed)}")
  return lines[:limit]
