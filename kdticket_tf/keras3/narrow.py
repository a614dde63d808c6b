"""The user's Keras 3 model at the widths of a compacted channel ticket.

A compacted channel ticket (`export/compaction.py`) is the ticket's tf_keras
network with fewer units and filters: each Dense and convolution layer keeps
its name and every other field, and the layers after it (BatchNormalization,
the layers that read it) take their sizes from their inputs. So the user's own
model, rebuilt from its Keras 3 `get_config()` with each of those layers'
`units` or `filters` set to its compacted width (and a dropout's `noise_shape`
to the compacted one's), is the compacted network in Keras 3, every other
field the user set kept. `build` makes it (a Sequential or
functional model, as the user's is, compiled as the user's was); the compacted
weights go in, checked, through `keras_file.write`.

A layer the compaction narrowed that the user's model does not have, or has
without that width field, is refused in one sentence: a width ignored would
make a model that cannot hold the compacted weights.
"""

import copy

# The fields that hold a layer's width: compaction changes these alone.
WIDTH_FIELDS = ("units", "filters")


def widths(model):
  """`{layer name: (field, width)}` of every layer with `units` or `filters`.

  Reads a tf_keras or a Keras 3 model.
  """
  found = {}
  for layer in model.layers:
    for field in WIDTH_FIELDS:
      value = getattr(layer, field, None)
      if isinstance(value, int):
        found[layer.name] = (field, value)
  return found


def _narrowed_config(keras3_model, compacted):
  """The user's model config with the layers at `compacted`'s widths."""
  config = copy.deepcopy(keras3_model.get_config())
  entries = {entry["config"].get("name"): entry for entry in config["layers"]}
  full = widths(keras3_model)
  for name, (field, width) in widths(compacted).items():
    if full.get(name) == (field, width):
      continue
    if name not in entries or full.get(name, (None,))[0] != field:
      raise ValueError(
          f"The compacted network of Keras 3 model {keras3_model.name!r} has "
          f"layer {name!r} at {field}={width}, but the model has no layer "
          f"{name!r} with a {field} field; kdticket_tf writes a compacted "
          ".keras file only by changing the units or filters of the model's "
          "own layers.")
    entries[name]["config"][field] = width
  narrow_layers = {layer.name: layer for layer in compacted.layers}
  for entry in config["layers"]:
    # Shapes the full-width build recorded inside the model: the narrower
    # model builds its layers on its inputs instead (their shape is kept).
    entry.pop("build_config", None)
    # A dropout's noise shape names its input's channels: the compacted one's.
    layer = narrow_layers.get(entry["config"].get("name"))
    if entry["config"].get("noise_shape") and layer is not None:
      entry["config"]["noise_shape"] = list(layer.noise_shape)
  return config


def build(keras3_model, compacted):
  """Returns the user's Keras 3 model rebuilt at `compacted`'s widths.

  Args:
    keras3_model: A build of the user's Keras 3 Sequential or functional
      model (full width; it is not changed).
    compacted: The compacted tf_keras network of one of its channel tickets
      (`Compaction.model`): the same layer names, some narrower.

  Returns:
    A fresh Keras 3 model of the user's class and config with each narrowed
    layer's `units` or `filters` replaced (its weights newly drawn: copy the
    compacted ones in), compiled as `keras3_model` is.

  Raises:
    ValueError: when `compacted` narrows a layer that `keras3_model` does not
      have, or has without that width field.
  """
  narrowed = type(keras3_model).from_config(
      _narrowed_config(keras3_model, compacted))
  if keras3_model.compiled:
    narrowed.compile_from_config(keras3_model.get_compile_config())
  return narrowed
