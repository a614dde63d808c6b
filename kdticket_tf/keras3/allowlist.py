"""The Keras 3 layers the translation knows, and what each config field becomes.

`LAYERS` maps each Keras 3 layer class the translation accepts to its tf_keras
class and to the fields of its `get_config()`, each with what it becomes in
tf_keras:

* the same argument (`units`, `kernel_size`, `padding`, ...), or one renamed
  (`LeakyReLU`'s `negative_slope` is tf_keras's `alpha`);
* nothing, for an initializer: the weights it drew are copied (θ0 is the
  user's), so the tf_keras layer's own initial values are overwritten;
* a Keras 3 field that tf_keras does not have, accepted only at the value that
  means what tf_keras does (`quantization_config=None`, `rms_scaling=False`);
* the dtype policy, float32 only; an activation, regularizer or constraint by
  its name, from the lists below.

A layer of another class (or a subclass of one of these), a field not listed
for its class, or a value tf_keras cannot express is refused by `layer` in one
sentence naming the layer, its class and what is accepted: a field dropped
silently would change the model.
"""

import keras
import tf_keras

# Keras 3 activation names and the tf_keras function each one is.
ACTIVATIONS = {
    "linear": "linear", "relu": "relu", "relu6": "relu6",
    "sigmoid": "sigmoid", "softmax": "softmax", "log_softmax": "log_softmax",
    "tanh": "tanh", "elu": "elu", "selu": "selu", "softplus": "softplus",
    "softsign": "softsign", "silu": "swish", "swish": "swish", "gelu": "gelu",
    "exponential": "exponential", "mish": "mish",
}
# Regularizers and constraints by class, with the fields of their configs.
REGULARIZERS = {"L1": {"l1"}, "L2": {"l2"}, "L1L2": {"l1", "l2"}}
CONSTRAINTS = {"MaxNorm": {"max_value", "axis"},
               "MinMaxNorm": {"min_value", "max_value", "rate", "axis"},
               "NonNeg": set(), "UnitNorm": {"axis"}}


class Unsupported(Exception):
  """A field's value the translation cannot keep: (found, accepted)."""


def _tuples(value):
  """Lists (as Keras 3 configs hold shapes) as tuples, nested too."""
  if isinstance(value, (list, tuple)):
    return tuple(_tuples(v) for v in value)
  return value


def _same(field, value, config):
  del config
  return {field: _tuples(value)}


def _renamed(name):
  def handler(field, value, config):
    del field, config
    return {name: _tuples(value)}
  return handler


def _weights(field, value, config):
  """An initializer: the values it drew are copied, so it is not needed."""
  del field, value, config
  return {}


def _only(*accepted):
  """A Keras 3 field tf_keras lacks, kept only at the value(s) it has there."""
  def handler(field, value, config):
    del config
    if not any(value == a and type(value) is type(a) for a in accepted):
      raise Unsupported(f"{field}={value!r}", " or ".join(
          f"{field}={a!r}" for a in accepted))
    return {}
  return handler


def _unused_unless(switch):
  """A field that matters only when `switch` is on (which `_only` refuses)."""
  def handler(field, value, config):
    del field, value
    if config.get(switch):
      raise Unsupported(f"{switch}={config[switch]!r}", f"{switch}=False")
    return {}
  return handler


def _dtype(field, value, config):
  del config
  name = value
  if isinstance(value, dict):
    name = (value.get("config", {}).get("name")
            if value.get("class_name") == "DTypePolicy" else None)
  if name not in (None, "float32"):
    found = value.get("class_name") if isinstance(value, dict) else value
    raise Unsupported(f"dtype policy {name or found!r}",
                      "the float32 policy (the search trains in float32)")
  return {field: "float32"}


def _activation(field, value, config):
  del config
  if value is None:
    return {field: "linear"}
  if isinstance(value, str) and value in ACTIVATIONS:
    return {field: ACTIVATIONS[value]}
  found = value.get("config") if isinstance(value, dict) else value
  raise Unsupported(f"{field}={found!r}",
                    f"{field} one of {', '.join(ACTIVATIONS)}")


def _serialized(field, value, known, module, kind):
  """The tf_keras object of a serialized Keras 3 regularizer or constraint."""
  if value is None:
    return {field: None}
  if (isinstance(value, dict) and value.get("module") == module and
      value.get("class_name") in known and not value.get("registered_name")
      and set(value.get("config") or {}) <= known[value["class_name"]]):
    target = getattr(getattr(tf_keras, kind), value["class_name"])
    return {field: target(**(value.get("config") or {}))}
  found = value.get("class_name") if isinstance(value, dict) else value
  raise Unsupported(f"{field}={found!r}",
                    f"{field} None or one of {', '.join(known)}")


def _regularizer(field, value, config):
  del config
  return _serialized(field, value, REGULARIZERS, "keras.regularizers",
                     "regularizers")


def _constraint(field, value, config):
  del config
  return _serialized(field, value, CONSTRAINTS, "keras.constraints",
                     "constraints")


def _fields(*names, **handlers):
  """The name, trainable and dtype fields, `names` copied, and `handlers`."""
  table = {"name": _same, "trainable": _same, "dtype": _dtype}
  table.update({name: _same for name in names})
  table.update(handlers)
  return table


def _weight(prefix):
  """A weight's initializer, regularizer and constraint fields."""
  return {f"{prefix}_initializer": _weights,
          f"{prefix}_regularizer": _regularizer,
          f"{prefix}_constraint": _constraint}


_BIASED = dict(activation=_activation, activity_regularizer=_regularizer,
               **_weight("bias"))
_CONV = ("kernel_size", "strides", "padding", "data_format", "dilation_rate",
         "use_bias")
_NORMALIZED = dict(**_weight("beta"), **_weight("gamma"))
_POOLING = _fields("pool_size", "strides", "padding", "data_format")
_GLOBAL_POOLING = _fields("data_format", "keepdims")

# Keras 3 class name -> its tf_keras class name and its fields' handlers.
LAYERS = {
    "Dense": _fields("units", "use_bias", **_BIASED, **_weight("kernel"),
                     quantization_config=_only(None), lora_rank=_only(None),
                     lora_alpha=_unused_unless("lora_rank")),
    "Conv1D": _fields("filters", "groups", *_CONV, **_BIASED,
                      **_weight("kernel")),
    "Conv2D": _fields("filters", "groups", *_CONV, **_BIASED,
                      **_weight("kernel")),
    "DepthwiseConv1D": _fields("depth_multiplier", *_CONV, **_BIASED,
                               **_weight("depthwise")),
    "DepthwiseConv2D": _fields("depth_multiplier", *_CONV, **_BIASED,
                               **_weight("depthwise")),
    "SeparableConv1D": _fields("filters", "depth_multiplier", *_CONV,
                               **_BIASED, **_weight("depthwise"),
                               **_weight("pointwise")),
    "SeparableConv2D": _fields("filters", "depth_multiplier", *_CONV,
                               **_BIASED, **_weight("depthwise"),
                               **_weight("pointwise")),
    "BatchNormalization": _fields(
        "axis", "momentum", "epsilon", "center", "scale", "synchronized",
        **_NORMALIZED, moving_mean_initializer=_weights,
        moving_variance_initializer=_weights, renorm=_only(False),
        renorm_clipping=_only(None),
        renorm_momentum=_unused_unless("renorm")),
    "LayerNormalization": _fields("axis", "epsilon", "center", "scale",
                                  **_NORMALIZED, rms_scaling=_only(False)),
    "Activation": _fields(activation=_activation),
    "ReLU": _fields("max_value", "negative_slope", "threshold"),
    "LeakyReLU": _fields(negative_slope=_renamed("alpha")),
    "ELU": _fields("alpha"),
    "PReLU": _fields("shared_axes", **_weight("alpha")),
    "Softmax": _fields("axis"),
    "Dropout": _fields("rate", "noise_shape", "seed"),
    "MaxPooling1D": _POOLING, "MaxPooling2D": _POOLING,
    "AveragePooling1D": _POOLING, "AveragePooling2D": _POOLING,
    "GlobalMaxPooling1D": _GLOBAL_POOLING,
    "GlobalMaxPooling2D": _GLOBAL_POOLING,
    "GlobalAveragePooling1D": _GLOBAL_POOLING,
    "GlobalAveragePooling2D": _GLOBAL_POOLING,
    "Flatten": _fields("data_format"),
    "Reshape": _fields("target_shape"),
    "Permute": _fields("dims"),
    "ZeroPadding1D": _fields("padding", data_format=_only("channels_last")),
    "ZeroPadding2D": _fields("padding", "data_format"),
    "Cropping1D": _fields("cropping"),
    "Cropping2D": _fields("cropping", "data_format"),
    "UpSampling1D": _fields("size"),
    "UpSampling2D": _fields("size", "data_format", "interpolation"),
    "Rescaling": _fields("scale", "offset"),
    "Add": _fields(), "Subtract": _fields(), "Multiply": _fields(),
    "Average": _fields(), "Maximum": _fields(), "Minimum": _fields(),
    "Concatenate": _fields("axis"),
    "Embedding": _fields("input_dim", "output_dim",
                         mask_zero=_only(False),
                         activity_regularizer=_regularizer,
                         **_weight("embeddings"),
                         quantization_config=_only(None),
                         lora_rank=_only(None),
                         lora_alpha=_unused_unless("lora_rank")),
}
NAMES = ", ".join(["InputLayer"] + list(LAYERS))


def _known_class(layer):
  """The allowlisted Keras 3 class `layer` is exactly, or None."""
  name = type(layer).__name__
  if name in LAYERS and type(layer) is getattr(keras.layers, name, None):
    return name
  return None


def _class_text(layer):
  """`LSTM`, or `MyDense (a subclass of Dense)`."""
  name = type(layer).__name__
  base = next((c.__name__ for c in type(layer).__mro__[1:]
               if c.__name__ in LAYERS and
               c is getattr(keras.layers, c.__name__, None)), None)
  return f"{name} (a subclass of {base})" if base else name


def layer_config(layer):
  """`layer.get_config()` with what it leaves out but the layer holds.

  Keras 3's `Dense.get_config()` omits `activity_regularizer`; the attribute
  is read instead, so that a regularizer is translated or refused, not lost.
  """
  config = dict(layer.get_config())
  regularizer = getattr(layer, "activity_regularizer", None)
  if "activity_regularizer" not in config and regularizer is not None:
    config["activity_regularizer"] = keras.regularizers.serialize(regularizer)
  return config


def layer(keras3_layer, model_name):
  """Returns a tf_keras layer equivalent to `keras3_layer` (not yet built).

  Args:
    keras3_layer: A layer of a Keras 3 model.
    model_name: The model's name, for the refusals.

  Raises:
    ValueError: for a class, a field or a value outside the allowlist, in one
      sentence naming the layer, its class and what is accepted.
  """
  where = (f"model_fn's Keras 3 model {model_name!r} has layer "
           f"{keras3_layer.name!r}")
  name = _known_class(keras3_layer)
  if name is None:
    raise ValueError(
        f"{where} of class {_class_text(keras3_layer)}, which kdticket_tf "
        "cannot translate to tf_keras (the Keras TF-MOT prunes); it "
        f"translates Keras 3's own {NAMES}: build the model from these "
        "layers, or with tf_keras.")
  handlers = LAYERS[name]
  config = layer_config(keras3_layer)
  arguments = {}
  for field, value in config.items():
    if field not in handlers:
      raise ValueError(
          f"{where} ({name}) with the field {field}={value!r}, which the "
          f"translation to tf_keras does not know and will not drop; it "
          f"translates {name} with the fields {', '.join(handlers)}.")
    try:
      arguments.update(handlers[field](field, value, config))
    except Unsupported as error:
      found, accepted = error.args
      raise ValueError(
          f"{where} ({name}) with {found}, which the translation to "
          f"tf_keras cannot keep; it accepts {accepted}.") from None
  return getattr(tf_keras.layers, name)(**arguments)
