"""TF-MOT pruning wrappers extended with fixed masks.

`FixedMask` is a TF-MOT `PruningSchedule` that never asks for a mask update, so
TF-MOT never recomputes the masks this package sets. `MaskedPruneLowMagnitude`
extends TF-MOT's `PruneLowMagnitude`: it keeps TF-MOT's mask and threshold
variables (so `strip_pruning`, `collect_prunable_layers` and TF-MOT's callbacks
keep working) but applies the mask to the *gradient* inside the training step:
the wrapped layer reads its kernel through an identity whose gradient is
multiplied by the mask, so the gradient of every pruned weight is exactly zero.
`set_masks` zeroes the pruned weights once; a pruned weight at 0.0 with a zero
gradient stays exactly 0.0 after every optimizer step (SGD with momentum, Adam,
coupled L2 decay alike), where TF-MOT's own wrapper re-zeroes weights only at
the next forward pass and leaves them non-zero between the optimizer step and
that pass. The lottery loop checks the zeros after every training.

A pruned *channel* (the `channel` structure) takes more than kernel entries:
its bias and the gamma and beta of the BatchNormalization after it go too, so
its output is exactly zero. `set_pruned_channels` zeroes them and gives each
such variable a `ChannelMask` constraint, which every tf_keras optimizer
applies right after its step (before the next forward pass, under a
distribution strategy and mixed precision too); the layer's own constraint,
if any, runs first.
"""

import inspect
import re

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper


class FixedMask(pruning_schedule.PruningSchedule):
  """A pruning schedule that never updates masks: they are set from outside."""

  def __call__(self, step):
    return tf.constant(False), tf.constant(0.0)

  def get_config(self):
    return {"class_name": self.__class__.__name__, "config": {}}


class MaskedPruneLowMagnitude(pruning_wrapper.PruneLowMagnitude):
  """`PruneLowMagnitude` whose masks are fixed and applied to the gradient."""

  def __init__(self, layer, pruning_schedule=None, **kwargs):
    super().__init__(layer, pruning_schedule=pruning_schedule or FixedMask(),
                     **kwargs)
    self._weight_attributes = []

  def build(self, input_shape):
    super().build(input_shape)
    self._weight_attributes = [
        _attribute_holding(self.layer, weight) for weight in self.prunable_weights
    ]

  def call(self, inputs, training=None, **kwargs):
    if training is None:
      training = keras.backend.learning_phase()
    compute_dtype = self.layer.compute_dtype
    originals = []
    for (weight, mask, _), attribute in zip(self.pruning_vars,
                                             self._weight_attributes):
      originals.append((attribute, getattr(self.layer, attribute)))
      masked = _masked_gradient(tf.cast(weight, compute_dtype),
                                tf.cast(mask, compute_dtype))
      # object.__setattr__ bypasses Keras attribute tracking: the variable stays
      # the layer's tracked weight, the layer's call reads the masked tensor.
      object.__setattr__(self.layer, attribute, masked)
    try:
      if "training" in _call_arguments(self.layer):
        return self.layer.call(inputs, training=training, **kwargs)
      return self.layer.call(inputs, **kwargs)
    finally:
      for attribute, original in originals:
        object.__setattr__(self.layer, attribute, original)

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config.pop("pruning_schedule", None)
    config.pop("block_size", None)
    config.pop("block_pooling_type", None)
    config["layer"] = keras.layers.deserialize(config.pop("layer"))
    return cls(**config)


@tf.custom_gradient
def _masked_gradient(weight, mask):
  """Identity on `weight` whose gradient is multiplied by `mask`.

  The forward pass needs no multiply: pruned weights are exactly 0.0 already
  (`set_masks` zeroes them and their gradient is zero, so no optimizer step moves
  them). Only the backward pass pays one multiply, which keeps the gradient of
  every pruned weight exactly zero.
  """
  def gradient(upstream):
    return upstream * mask, None
  return tf.identity(weight), gradient


def _call_arguments(layer):
  return inspect.getfullargspec(layer.call).args


def _attribute_holding(layer, variable):
  for name, value in vars(layer).items():
    if value is variable:
      return name
  raise ValueError(
      f"Layer {layer.name!r} ({type(layer).__name__}) keeps its prunable weight "
      f"{variable.name!r} outside a plain attribute; such layers cannot be "
      "wrapped. List the layer in keep_dense to leave it dense.")


def is_prunable(layer):
  """True when TF-MOT can prune `layer` and it has weights worth pruning."""
  if isinstance(layer, keras.Model):
    return False
  if hasattr(layer, "get_prunable_weights"):
    return True
  if not prune_registry.PruneRegistry.supports(layer):
    return False
  return bool(prune_registry.PruneRegistry._weight_names(layer))  # pylint: disable=protected-access


def _matches_any(name, patterns):
  return any(re.fullmatch(pattern, name) for pattern in patterns)


def wrap_model(model, keep_dense=()):
  """Wraps the prunable layers of `model` with `MaskedPruneLowMagnitude`.

  The wrappers hold the *same* layer objects as `model`, so `model` (the base)
  and the returned model share every weight; masks start as all ones.

  Args:
    model: A functional or Sequential `tf_keras` model.
    keep_dense: Regular expressions; layers whose name matches one fully are
      left unwrapped.

  Returns:
    The wrapped model.

  Raises:
    ValueError: if no layer is left to prune, or the model is not a `tf_keras`
      functional or Sequential model.
  """
  if not isinstance(model, keras.Model) or (
      not isinstance(model, keras.Sequential) and
      not getattr(model, "_is_graph_network", False)):
    raise ValueError(
        f"wrap_model takes a functional or Sequential tf_keras model, the "
        f"Keras TF-MOT prunes, not a {type(model).__name__} "
        f"({type(model).__module__}); a Keras 3 model goes through "
        "find_tickets, which translates it.")
  wrapped_names = []

  def clone_function(layer):
    if is_prunable(layer) and not _matches_any(layer.name, keep_dense):
      wrapped_names.append(layer.name)
      return MaskedPruneLowMagnitude(layer)
    return layer

  wrapped = keras.models.clone_model(model, clone_function=clone_function)
  if not wrapped_names:
    raise ValueError(
        f"No prunable layer left in model {model.name!r} after keep_dense="
        f"{list(keep_dense)}; leave at least one Dense or Conv layer prunable.")
  return wrapped


def pruning_layers(model):
  """Returns the `MaskedPruneLowMagnitude` layers of `model` in model order."""
  return [layer for layer in model.layers
          if isinstance(layer, MaskedPruneLowMagnitude)]


def prunable_variables(model):
  """Returns (layer name, weight variable, mask variable) in model order."""
  result = []
  for layer in pruning_layers(model):
    for weight, mask, _ in layer.pruning_vars:
      result.append((layer.layer.name, weight, mask))
  return result


def set_masks(model, masks):
  """Assigns `masks` (NumPy arrays in model order) and zeroes pruned weights.

  Args:
    model: A model wrapped by `wrap_model`.
    masks: One array per prunable weight, in `prunable_variables` order.

  Raises:
    ValueError: if the count or a shape does not match.
  """
  variables = prunable_variables(model)
  if len(variables) != len(masks):
    raise ValueError(
        f"The model has {len(variables)} prunable weights but {len(masks)} "
        "masks were given.")
  for (name, weight, mask), value in zip(variables, masks):
    if tuple(mask.shape) != tuple(np.shape(value)):
      raise ValueError(
          f"Mask for layer {name!r} has shape {np.shape(value)}, expected "
          f"{tuple(mask.shape)}.")
    mask.assign(np.asarray(value, mask.dtype.as_numpy_dtype))
    weight.assign(weight * tf.cast(mask, weight.dtype))


class ChannelMask(keras.constraints.Constraint):
  """Multiplies a per-channel parameter by its channels' keep flags."""

  def __init__(self, keep, inner=None):
    self.keep = np.asarray(keep, np.float32)
    self.inner = inner

  def __call__(self, weight):
    if self.inner is not None:
      weight = self.inner(weight)
    return weight * tf.cast(self.keep, weight.dtype)


CHANNEL_PARAMETERS = ("bias", "gamma", "beta")


def _components(variable):
  """The plain variables behind a (distributed, autocast) variable."""
  variable = getattr(variable, "_variable", variable)  # AutoCastVariable
  return list(getattr(variable, "values", None) or [variable])


def set_pruned_channels(model, pruned):
  """Zeroes pruned channels' biases, gammas and betas, and keeps them at 0.0.

  Args:
    model: A model wrapped by `wrap_model` (or any tf_keras model).
    pruned: `{layer name: [channel, ...]}`; each named layer's `bias`,
      `gamma` and `beta` (those it has) are zeroed at those channels and
      constrained to stay zero after every optimizer step.

  Raises:
    ValueError: when a named layer is not in `model`.
  """
  layers = {}
  for layer in model.layers:
    inner = layer.layer if isinstance(layer, MaskedPruneLowMagnitude) else layer
    layers[inner.name] = inner
  for name, channels in pruned.items():
    if name not in layers:
      raise ValueError(f"Layer {name!r} of the pruned channels is not in "
                       f"model {model.name!r}.")
    for attribute in CHANNEL_PARAMETERS:
      variable = getattr(layers[name], attribute, None)
      if variable is None:
        continue
      keep = np.ones(variable.shape, np.float32)
      keep[list(channels)] = 0.0
      variable.assign(variable * tf.cast(keep, variable.dtype))
      for component in _components(variable):
        inner = component.constraint
        if isinstance(inner, ChannelMask):
          inner = inner.inner
        # pylint: disable-next=protected-access
        component._constraint = ChannelMask(keep, inner)


def channel_masked_variables(model):
  """Returns (layer name, variable, keep flags) of every `ChannelMask`."""
  found = []
  for layer in model.layers:
    inner = layer.layer if isinstance(layer, MaskedPruneLowMagnitude) else layer
    for attribute in CHANNEL_PARAMETERS:
      variable = getattr(inner, attribute, None)
      if variable is not None and isinstance(variable.constraint, ChannelMask):
        found.append((inner.name, variable, variable.constraint.keep))
  return found


def get_masks(model):
  """Returns the masks of `model` as NumPy arrays in model order."""
  return [mask.numpy() for _, _, mask in prunable_variables(model)]


def apply_masks(model):
  """Sets every pruned weight of `model` to exactly 0.0."""
  for _, weight, mask in prunable_variables(model):
    weight.assign(weight * tf.cast(mask, weight.dtype))
