"""A Keras 3 Sequential or functional model rebuilt as tf_keras, with weights.

`tf_keras.Model.from_config` cannot read a Keras 3 config (its InputLayer's
`batch_shape`, its dtype policies, its inbound-node format and its new fields
all differ), so the model is rebuilt here:

* each layer by `allowlist.layer` (a class or field it does not know is
  refused);
* a functional model's graph from the inbound nodes of Keras 3's
  `get_config()`, node by node: each call of a layer (a shared layer is called
  once per node) on the tf_keras tensors of its Keras 3 inputs, with its
  `training` argument when the user gave one; a Sequential model as a tf_keras
  Sequential of the same layers after the same `Input`;
* then every layer's weights copied (`copy_weights`), so θ0 is the user's.

Layer and model names are kept, so `keep_dense` patterns, weights files and
per-layer rows name the user's layers. `check_outputs` compares the two
models on a batch, which the search does before any training.
"""

import keras
import numpy as np
import tensorflow as tf
import tf_keras

from kdticket_tf.keras3 import allowlist

# Largest difference accepted between the two models' outputs (relative to
# the largest output when that is above 1).
TOLERANCE = 1e-5
_INPUT_FIELDS = ("batch_shape", "dtype", "name")
_INPUT_DEFAULTS = {"sparse": False, "ragged": False, "optional": False}
_CALL_ARGUMENTS = ("training",)


def translate(model):
  """Returns the tf_keras model equivalent to the Keras 3 `model`.

  Args:
    model: A Keras 3 Sequential or functional model.

  Returns:
    A tf_keras Sequential or functional model of the same layers, names and
    weights.

  Raises:
    ValueError: for a subclassed model, or a layer or field outside the
      allowlist, in one sentence naming it and what is accepted.
  """
  kind = type(model).__name__
  if not isinstance(model, keras.Model):
    raise ValueError(
        f"model_fn returned a Keras 3 {kind} ({getattr(model, 'name', '')!r}),"
        " not a model; find_tickets needs a function that returns a fresh "
        "Sequential or functional model.")
  if type(model) is keras.Sequential:
    translated = _sequential(model)
  elif kind == "Functional" and type(model).__module__.startswith("keras."):
    translated = _functional(model)
  else:
    raise ValueError(
        f"model_fn returned a subclassed Keras 3 model ({kind}); find_tickets "
        "translates Keras 3 Sequential and functional models only, which it "
        "rebuilds as tf_keras for TF-MOT to prune: build it with "
        "keras.Sequential or keras.Model(inputs, outputs).")
  if not model.trainable:  # (True would unfreeze every layer)
    translated.trainable = False
  copy_weights(model, translated)
  return translated


def _input(config, model_name):
  """The tf_keras `Input` of a Keras 3 InputLayer's config."""
  for field, value in config.items():
    if field in _INPUT_FIELDS or _INPUT_DEFAULTS.get(field, ...) == value:
      continue
    accepted = ", ".join(f"{k}={v}" for k, v in _INPUT_DEFAULTS.items())
    raise ValueError(
        f"model_fn's Keras 3 model {model_name!r} has input "
        f"{config.get('name')!r} with {field}={value!r}, which the "
        f"translation to tf_keras does not take; it accepts inputs with "
        f"{', '.join(_INPUT_FIELDS)} and {accepted}.")
  return tf_keras.Input(batch_shape=tuple(config["batch_shape"]),
                        dtype=config.get("dtype"), name=config.get("name"))


def _sequential(model):
  """A tf_keras Sequential of the translated layers (after its `Input`)."""
  entries = model.get_config()["layers"]
  start = [_input(entry["config"], model.name) for entry in entries[:1]
           if entry["class_name"] == "InputLayer"]
  return tf_keras.Sequential(
      start + [allowlist.layer(layer, model.name) for layer in model.layers],
      name=model.name)


def _resolve(value, tensors):
  """A node's argument with each Keras 3 tensor replaced by its tf_keras one."""
  if isinstance(value, dict):
    if value.get("class_name") == "__keras_tensor__":
      return tensors[tuple(value["config"]["keras_history"])]
    return {k: _resolve(v, tensors) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_resolve(v, tensors) for v in value]
  return value


def _history(value):
  """Every (layer, node, tensor) a node's argument reads."""
  if isinstance(value, dict):
    if value.get("class_name") == "__keras_tensor__":
      return [tuple(value["config"]["keras_history"])]
    return [h for v in value.values() for h in _history(v)]
  if isinstance(value, (list, tuple)):
    return [h for v in value for h in _history(v)]
  return []


def _node(node, layer_name, model_name):
  """A node's `args` and the call arguments passed on (`training`).

  Keras 3 records `mask=None` for a layer that takes a mask; a mask given
  explicitly, or any other argument, is refused.
  """
  kwargs = {}
  for argument, value in node.get("kwargs", {}).items():
    if argument == "mask" and value is None:
      continue
    if argument not in _CALL_ARGUMENTS:
      raise ValueError(
          f"model_fn's Keras 3 model {model_name!r} calls layer "
          f"{layer_name!r} with the argument {argument}=, which the "
          "translation to tf_keras does not pass on; call its layers on "
          f"their inputs alone (or with {', '.join(_CALL_ARGUMENTS)}=).")
    kwargs[argument] = value
  return {"args": node.get("args", []), "kwargs": kwargs}


def _endpoints(value):
  """`input_layers` / `output_layers`: one [name, node, tensor] or a list."""
  if value and isinstance(value[0], str):
    return [tuple(value)], True
  return [tuple(v) for v in value], False


def _functional(model):
  """A tf_keras functional model of the same graph as the Keras 3 one."""
  config = model.get_config()
  tensors, nodes = {}, []
  for entry in config["layers"]:
    layer = model.get_layer(entry["name"])
    if type(layer) is keras.layers.InputLayer:
      tensors[(entry["name"], 0, 0)] = _input(entry["config"], model.name)
      continue
    translated = allowlist.layer(layer, model.name)
    for index, node in enumerate(entry["inbound_nodes"]):
      nodes.append((translated, entry["name"], index,
                    _node(node, layer.name, model.name)))
  while nodes:  # each node once all of its inputs exist
    ready = [n for n in nodes
             if all(h in tensors for h in _history(n[3].get("args", [])))]
    for layer, name, index, node in ready:
      outputs = layer(*_resolve(node.get("args", []), tensors),
                      **node.get("kwargs", {}))
      for position, tensor in enumerate(tf.nest.flatten(outputs)):
        tensors[(name, index, position)] = tensor
    done = {id(n) for n in ready}
    nodes = [n for n in nodes if id(n) not in done]
    if not ready:
      raise ValueError(
          f"model_fn's Keras 3 model {model.name!r} has layers whose inputs "
          f"are not in the model ({', '.join(n[1] for n in nodes)}); "
          "find_tickets translates a model built from keras.Input to its "
          "outputs.")
  (inputs, one_input), (outputs, one_output) = (
      _endpoints(config["input_layers"]), _endpoints(config["output_layers"]))
  inputs = [tensors[key] for key in inputs]
  outputs = [tensors[key] for key in outputs]
  return tf_keras.Model(inputs[0] if one_input else inputs,
                        outputs[0] if one_output else outputs,
                        name=model.name)


def copy_weights(source, target):
  """Copies each layer's weights of `source` into `target`'s layer of its name.

  Works both ways, Keras 3 into tf_keras and back.

  Raises:
    ValueError: when the two models' layers or weights do not correspond.
  """
  targets = {layer.name: layer for layer in target.layers}
  for layer in source.layers:
    values = layer.get_weights()
    other = targets.get(layer.name)
    if other is None:
      if not values:
        continue
      raise ValueError(
          f"model {target.name!r} has no layer {layer.name!r} to copy the "
          "weights of; were the two models built by the same model_fn?")
    shapes = [tuple(v.shape) for v in values]
    expected = [tuple(w.shape) for w in other.weights]
    if shapes != expected:
      raise ValueError(
          f"layer {layer.name!r} holds weights of shapes {shapes} where "
          f"model {target.name!r} holds {expected}; were the two models "
          "built by the same model_fn?")
    if values:
      other.set_weights(values)


def check_outputs(keras3_model, translated, inputs, where="a batch"):
  """Refuses a translation whose outputs differ from the Keras 3 model's.

  Args:
    keras3_model: The user's Keras 3 model.
    translated: Its tf_keras translation (same weights).
    inputs: A batch of inputs, as the search will feed them.
    where: What `inputs` are, for the message.

  Returns:
    The largest difference found.

  Raises:
    ValueError: when the outputs differ by more than `TOLERANCE`.
  """
  expected = [np.asarray(o) for o in
              tf.nest.flatten(keras3_model(inputs, training=False))]
  found = [np.asarray(o) for o in
           tf.nest.flatten(translated(inputs, training=False))]
  shapes = ([e.shape for e in expected], [f.shape for f in found])
  difference = (max(float(np.max(np.abs(e.astype(np.float64) - f)))
                    for e, f in zip(expected, found))
                if shapes[0] == shapes[1] else float("inf"))
  scale = max([1.0] + [float(np.max(np.abs(e))) for e in expected if e.size])
  if not difference <= TOLERANCE * scale:
    raise ValueError(
        f"model_fn's Keras 3 model {keras3_model.name!r} and its tf_keras "
        f"translation differ by {difference:.3g} on {where} (more than "
        f"{TOLERANCE:g}{f' x {scale:.3g}' if scale > 1 else ''}), so the "
        "search would not prune your model; please report it with the "
        "model, or build the model with tf_keras.")
  return difference
