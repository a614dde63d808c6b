"""Compaction: a channel ticket rebuilt as the physically narrower network.

A channel ticket is the dense network with whole channels at zero: a group's
producers (kernel output slices and biases) and the BatchNormalization gamma
and beta that follow them (`pruning/channel_groups.py` finds the groups). Such
a channel adds exactly nothing to what its consumers compute, so it can go:

* every producer layer is rebuilt with only its kept units or filters (its
  config's `units`/`filters` changed, kernel and bias sliced);
* every BatchNormalization keeps the gamma, beta, moving mean and moving
  variance of the kept channels;
* every consumer loses the input slices of the removed channels (Dense rows,
  conv input channels, the rows a Flatten maps a channel to);
* every other layer (Add, Concatenate, pooling, activations, ...) is rebuilt
  from its config as it is, and the functional graph is called again node by
  node, so the layers really are smaller: no gather or slice op is left.

Which groups go is read from the weights, the ground truth: a group whose
producers' kernel slices and biases and whose BatchNormalization gamma and
beta are all exactly zero. A caller may name the groups instead (from its
masks, `groups_from_masks`); each must then be zero in the weights too. Two
rules keep a zero group: a layer never loses its last channel, and a channel
whose consumers read a non-zero value (an activation with f(0) != 0, a
BatchNormalization without gamma) stays, since removing it would change the
function. The consumers' reading is checked by one forward pass: with zero
weights a removed channel's value does not depend on the input, so one batch
decides it. The compacted model's outputs are then compared with the
original's (`check`).

Channel groups are duck-typed here (`groups` of `producers`, `followers`,
`consumers`), so this module does not import `pruning`.
"""

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

TOLERANCE = 1e-5  # the largest output difference `check` accepts (relative)
_INPUT_INDEX_AXIS = -2  # a Dense or conv kernel's input-channel axis


@dataclasses.dataclass(frozen=True)
class Compaction:
  """A compacted model and what was removed.

  Attributes:
    model: The narrower tf_keras functional model.
    removed: The channel groups removed, in model order.
    kept_zero: Groups zero in the weights that stayed (a layer's last
      channel, or a channel its consumers read as non-zero), in model order.
    widths: `{layer: (units or filters before, after)}` of every Dense and
      convolution layer, in model order.
    difference: The largest output difference from the ticket on the
      inputs, relative to the outputs' scale (None: not checked).
    examples: How many inputs it was checked on.
  """
  model: keras.Model
  removed: Tuple[object, ...]
  kept_zero: Tuple[object, ...]
  widths: Dict[str, Tuple[int, int]]
  difference: Optional[float] = None
  examples: int = 0


def _zero_reason(model, group, arrays):
  """Why `group` is not exactly zero in `model`'s weights (None when it is)."""
  for name, channel in group.producers:
    layer = model.get_layer(name)
    kernel = arrays(layer, "kernel")
    if np.any(kernel[..., channel] != 0):
      return f"{name}'s kernel[..., {channel}] is not zero"
    if getattr(layer, "use_bias", False):
      if arrays(layer, "bias")[channel] != 0:
        return f"{name}'s bias[{channel}] is not zero"
  for name, channel in group.followers:
    layer = model.get_layer(name)
    if getattr(layer, "gamma", None) is None:
      return f"{name} has no gamma (scale=False): its output is not zero"
    if arrays(layer, "gamma")[channel] != 0:
      return f"{name}'s gamma[{channel}] is not zero"
    if getattr(layer, "beta", None) is not None:
      if arrays(layer, "beta")[channel] != 0:
        return f"{name}'s beta[{channel}] is not zero"
  return None


def _array_cache():
  """`arrays(layer, attribute)`: a layer's weight as NumPy, read once."""
  cache = {}

  def arrays(layer, attribute):
    key = (layer.name, attribute)
    if key not in cache:
      cache[key] = getattr(layer, attribute).numpy()
    return cache[key]
  return arrays


def zero_groups(model, graph):
  """Returns the groups of `graph` that are exactly zero in `model`'s weights.

  Args:
    model: The built tf_keras model holding a ticket's weights.
    graph: Its `ChannelGraph` (`pruning.channel_groups.find`).

  Returns:
    The zero groups, in the graph's order.
  """
  arrays = _array_cache()
  return tuple(g for g in graph.groups
               if _zero_reason(model, g, arrays) is None)


def groups_from_masks(graph, masks):
  """Returns the groups whose producers' kernel masks are all zero.

  Args:
    graph: The model's `ChannelGraph`.
    masks: `{layer name: kernel mask}` (0 pruned, 1 kept).
  """
  arrays = {name: np.asarray(mask) for name, mask in masks.items()}
  return tuple(
      g for g in graph.groups
      if all(name in arrays and not np.any(arrays[name][..., channel])
             for name, channel in g.producers))


def _as_list(tensors):
  return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def _call(model, inputs):
  """`model` on `inputs` (one array per model input), in inference mode."""
  return model(inputs[0] if len(inputs) == 1 else inputs, training=False)


def _random_inputs(model, batch_size=4, seed=0):
  """A batch of standard-normal inputs for each of `model`'s inputs."""
  rng = np.random.default_rng(seed)
  batch = []
  for tensor in model.inputs:
    shape = tensor.shape[1:]
    if any(d is None for d in shape):
      raise ValueError(
          f"Input {tensor.name!r} of model {model.name!r} has an unknown "
          f"dimension ({tuple(tensor.shape)}); pass `inputs` to compact.")
    values = rng.standard_normal((batch_size,) + tuple(shape))
    batch.append(values.astype(tensor.dtype.as_numpy_dtype))
  return batch


def _read_as_zero(model, groups, inputs):
  """The groups among `groups` whose consumers read exactly zero."""
  consumers = sorted({name for g in groups for name, _ in g.consumers})
  if not consumers:
    return tuple(groups)
  probe = keras.Model(
      model.inputs,
      [model.get_layer(name).inbound_nodes[0].input_tensors
       for name in consumers])
  read = _call(probe, inputs)
  read = dict(zip(consumers, [np.asarray(r) for r in _as_list(read)]))
  return tuple(g for g in groups
               if all(not np.any(read[name][..., index])
                      for name, index in g.consumers))


def _spare_last_channels(graph, removed):
  """`removed` less one group of each producer that would lose every channel."""
  removed = list(removed)
  for name, width in graph.widths.items():
    touching = [g for g in removed if any(p == name for p, _ in g.producers)]
    channels = {c for g in touching for p, c in g.producers if p == name}
    if touching and len(channels) >= width:
      removed.remove(touching[0])
  return removed


def _dropped(groups):
  """`{role: {layer: set of indices}}` that `groups` remove."""
  dropped = {"out": {}, "in": {}, "follow": {}}
  for group in groups:
    for role, slots in (("out", group.producers), ("in", group.consumers),
                        ("follow", group.followers)):
      for name, index in slots:
        dropped[role].setdefault(name, set()).add(index)
  return dropped


def _keep(size, dropped):
  return [i for i in range(size) if i not in dropped]


def _clone(layer, dropped, inputs):
  """A fresh layer of `layer`'s config, narrower when its outputs are cut.

  `inputs` is the first input it will be called on, in the rebuilt network:
  a dropout whose `noise_shape` names its input's channels takes the new
  count.
  """
  if isinstance(layer, keras.Model):
    return keras.models.clone_model(layer)
  config = layer.get_config()
  if layer.name in dropped["out"]:
    field = "units" if "units" in config else "filters"
    config[field] -= len(dropped["out"][layer.name])
  noise = config.get("noise_shape")
  if noise and noise[-1] not in (None, 1):
    config["noise_shape"] = tuple(noise[:-1]) + (int(inputs.shape[-1]),)
  return layer.__class__.from_config(config)


def _sliced_weights(layer, dropped):
  """`layer`'s weights without the removed channels' slices."""
  name = layer.name
  if name in dropped["follow"]:  # BatchNormalization: every weight per channel
    return [w[_keep(w.shape[0], dropped["follow"][name])]
            for w in layer.get_weights()]
  weights = layer.get_weights()
  if name not in dropped["out"] and name not in dropped["in"]:
    return weights
  kernel, rest = weights[0], weights[1:]
  if name in dropped["in"]:
    kernel = np.take(kernel, _keep(kernel.shape[_INPUT_INDEX_AXIS],
                                   dropped["in"][name]),
                     axis=_INPUT_INDEX_AXIS)
  if name in dropped["out"]:
    kept = _keep(kernel.shape[-1], dropped["out"][name])
    kernel, rest = kernel[..., kept], [w[kept] for w in rest]
  return [kernel] + rest


def _rebuild(model, dropped):
  """Calls fresh, narrower layers along `model`'s graph; returns the model."""
  mapping = {}
  inputs = []
  for tensor, name in zip(model.inputs, model.input_names):
    new = keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=name)
    mapping[id(tensor)] = new
    inputs.append(new)
  pending = [(layer, node) for layer in model.layers
             if not isinstance(layer, keras.layers.InputLayer)
             for node in layer.inbound_nodes]
  fresh = {}

  def renamed(value):
    return mapping[id(value)] if keras.backend.is_keras_tensor(value) else value

  while True:
    ready = next(((layer, node) for layer, node in pending
                  if all(id(t) in mapping
                         for t in _as_list(node.input_tensors))), None)
    if ready is None:
      break
    pending.remove(ready)
    layer, node = ready
    first = layer.name not in fresh
    args, kwargs = tf.nest.map_structure(renamed,
                                         (node.call_args, node.call_kwargs))
    if first:
      fresh[layer.name] = _clone(layer, dropped, tf.nest.flatten(args)[0])
    outputs = fresh[layer.name](*args, **kwargs)
    for old, new in zip(tf.nest.flatten(node.output_tensors),
                        tf.nest.flatten(outputs)):
      mapping[id(old)] = new
    if first:
      fresh[layer.name].set_weights(_sliced_weights(layer, dropped))
  outputs = [mapping[id(t)] for t in model.outputs]
  return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs,
                     name=model.name)


def widths(model):
  """`{layer: units or filters}` of every Dense and convolution layer."""
  found = {}
  for layer in model.layers:
    for field in ("units", "filters"):
      if isinstance(getattr(layer, field, None), int):
        found[layer.name] = getattr(layer, field)
  return found


def compact(model, graph, pruned=None, inputs=None, check=True):
  """Returns `model` rebuilt without its pruned channel groups.

  Args:
    model: A built tf_keras functional or Sequential model holding a channel
      ticket's weights (pruned channels exactly zero).
    graph: Its `ChannelGraph` (`pruning.channel_groups.find(model)`).
    pruned: The groups to remove (e.g. `groups_from_masks`), each of which
      must be zero in the weights; None: every group that is zero there.
    inputs: Model inputs (a list, one array per model input) for reading the
      consumers and checking the outputs; None: a batch of random normal ones.
    check: Compare the compacted model's outputs with `model`'s on `inputs`
      (inference mode) and raise when they differ by more than `TOLERANCE`.

  Returns:
    The `Compaction`.

  Raises:
    ValueError: when a group in `pruned` is not zero in the weights or not a
      group of `graph`, or when the compacted model computes otherwise.
  """
  if pruned is None:
    candidates = zero_groups(model, graph)
  else:
    candidates = _checked(model, graph, pruned)
  inputs = _random_inputs(model) if inputs is None else _as_list(inputs)
  readable = _read_as_zero(model, candidates, inputs)
  removed = set(_spare_last_channels(graph, readable))
  kept_zero = tuple(g for g in candidates if g not in removed)
  removed = tuple(g for g in candidates if g in removed)
  narrow = _rebuild(model, _dropped(removed))
  difference = max_difference(model, narrow, inputs) if check else None
  if check and difference > TOLERANCE:
    raise ValueError(
          f"The compacted {model.name!r} differs from the ticket by "
          f"{difference:.3g} (relative) on {len(inputs[0])} inputs, over "
          f"{TOLERANCE}; the ticket's pruned channels are not what removing "
          "them assumes.")
  before, after = widths(model), widths(narrow)
  return Compaction(narrow, removed, kept_zero,
                    {name: (before[name], after[name]) for name in before},
                    difference, len(inputs[0]) if check else 0)


def _checked(model, graph, pruned):
  """`pruned` in the graph's order, refused when one is not zero."""
  known = set(graph.groups)
  arrays = _array_cache()
  for group in pruned:
    if group not in known:
      raise ValueError(f"Group {group.producers[:2]}... is not a channel "
                       f"group of {model.name!r}; pass groups of its graph.")
    reason = _zero_reason(model, group, arrays)
    if reason is not None:
      raise ValueError(
          f"Channel group {group.producers[:2]}... is to be removed but "
          f"{reason}; the weights are the ground truth: zero the group "
          "(kernel slices, biases, BatchNormalization gamma and beta) first.")
  chosen = set(pruned)
  return tuple(g for g in graph.groups if g in chosen)


def max_difference(model, other, inputs):
  """The largest output difference of two models, relative to the outputs'
  scale (max |output|, at least 1), in inference mode."""
  first = [np.asarray(o) for o in _as_list(_call(model, inputs))]
  second = [np.asarray(o) for o in _as_list(_call(other, inputs))]
  scale = max(1.0, max(float(np.max(np.abs(o))) for o in first))
  return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second)) / (
      scale)
