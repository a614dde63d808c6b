"""TFLite conversion of a ticket, how the flatbuffer stores it, and running it.

`convert` calls TensorFlow's converter with `Optimize.EXPERIMENTAL_SPARSITY`:
a weight constant sparse enough is written in TFLite's sparse format. The
converter stores a weight one of three ways, and `storage_report` reads which
from the flatbuffer, per layer:

* `block-sparse`: a block map (1x4 for float, 1x16 for int8) read directly by
  the sparse FULLY_CONNECTED kernel: the fast path;
* `random-sparse`: sparse without blocks, read directly by the kernel;
* `densified`: stored sparse on disk but expanded by a DENSIFY op at run time
  (small on disk, no faster);
* `dense`: stored dense.

With `representative_data` the ticket is also quantized to int8 after training
(weights and activations, float input and output), calibrated on those
batches; the int8 sparse kernel takes 1x16 blocks, so this suits `1x16`
tickets.

`interpreter` is LiteRT's interpreter (`ai-edge-litert`, the `lite` extra) when
it is installed, TensorFlow's `tf.lite.Interpreter` otherwise.
"""

import re

import numpy as np
import tensorflow as tf

from kdticket_tf.store import artifacts
from kdticket_tf import logs

# Ops whose second input is the weight a prunable layer holds.
_WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")


def convert(saved_model_dir, path, signature, representative_data=None):
  """Converts a SavedModel signature to TFLite with sparsity; returns bytes.

  Args:
    saved_model_dir: The SavedModel.
    path: Where the `.tflite` file is written (atomically).
    signature: The signature key to convert.
    representative_data: None for float; else a callable yielding lists with
      one input batch each, for int8 post-training quantization.

  Returns:
    The flatbuffer's content.
  """
  converter = tf.lite.TFLiteConverter.from_saved_model(
      saved_model_dir, signature_keys=[signature])
  converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
  if representative_data is not None:
    converter.optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  content = converter.convert()
  with artifacts.atomic_path(path) as temporary:
    with open(temporary, "wb") as stream:
      stream.write(content)
  return content


def _schema():
  from tensorflow.lite.python import schema_py_generated  # pylint: disable=g-import-not-at-top
  return schema_py_generated


def _names(enum):
  """`{value: name}` of a flatbuffer schema enum (`BuiltinOperator`, ...)."""
  return {value: name for name, value in vars(enum).items()
          if not name.startswith("_")}


def _format(tensor, densified):
  sparsity = tensor.sparsity
  if densified:
    return "densified", None
  if sparsity is None:
    return "dense", None
  if sparsity.blockMap is not None and len(sparsity.blockMap):
    dims = sparsity.dimMetadata
    block = [int(d.denseSize) for d in dims[len(dims) - len(sparsity.blockMap):]]
    return "block-sparse", [1] * (2 - len(block)) + block
  return "random-sparse", None


def _layer_of(tensor_name, layer_names):
  """The first of `layer_names` that the tensor's name holds as a scope.

  Without a match, the scope before the first `/MatMul`, `/Conv2D` or
  `/depthwise` (the Keras layer's own name), else the tensor's name.
  """
  for name in layer_names:
    if re.search(rf"(^|/){re.escape(name)}/", tensor_name):
      return name
  match = re.search(r"([^/;]+)/(MatMul|Conv2D|depthwise)", tensor_name)
  return match.group(1) if match else tensor_name


def storage_report(content, layer_names=()):
  """Says how the flatbuffer `content` stores each layer's weight.

  Args:
    content: The `.tflite` flatbuffer's bytes.
    layer_names: The Keras layer names to look for in tensor names; a weight
      whose name holds none is reported under the scope its op was named in.

  Returns:
    `{layer: {"op", "shape", "storage", "block", "dtype"}}` in op order;
    `storage` is `block-sparse`, `random-sparse`, `densified` or `dense`, and
    `block` the block shape of a block-sparse weight (`[1, 4]`, `[1, 16]`).
  """
  schema = _schema()
  model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
  graph = model.subgraphs[0]
  names = _names(schema.BuiltinOperator)
  codes = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "CUSTOM")
           for c in model.operatorCodes]
  densified = {}  # output tensor of a DENSIFY op -> its sparse input
  for op in graph.operators:
    if codes[op.opcodeIndex] == "DENSIFY":
      densified[int(op.outputs[0])] = int(op.inputs[0])
  types = _names(schema.TensorType)
  report = {}
  for op in graph.operators:
    code = codes[op.opcodeIndex]
    if code not in _WEIGHT_OPS or len(op.inputs) < 2:
      continue
    index = int(op.inputs[1])
    stored = graph.tensors[densified.get(index, index)]
    name = stored.name.decode()
    storage, block = _format(stored, index in densified)
    layer = _layer_of(name, layer_names)
    report[layer] = {"op": code, "shape": [int(d) for d in stored.shape],
                     "storage": storage, "block": block,
                     "dtype": types.get(stored.type, str(stored.type)).lower()}
  return report


def interpreter_class():
  """LiteRT's `Interpreter` when installed, else TensorFlow's."""
  try:
    from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
    return litert.Interpreter
  except ImportError:
    return tf.lite.Interpreter


def interpreter(path, num_threads=1, batch_size=None, default_delegates=True):
  """Returns an allocated interpreter of the model at `path`.

  Args:
    path: A `.tflite` file.
    num_threads: Interpreter threads.
    batch_size: Resize the input to this batch (None: as converted).
    default_delegates: Let the interpreter apply its default delegate
      (XNNPACK on CPU); False runs TFLite's builtin kernels only.
  """
  cls = interpreter_class()
  options = {}
  if not default_delegates:
    module = __import__(cls.__module__, fromlist=["OpResolverType"])
    options["experimental_op_resolver_type"] = (
        module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
  with logs.quiet_native_logs():
    runner = cls(model_path=path, num_threads=num_threads, **options)
    if batch_size is not None:
      detail = runner.get_input_details()[0]
      runner.resize_tensor_input(detail["index"],
                                 [batch_size] + list(detail["shape"][1:]))
    runner.allocate_tensors()
  return runner


def predict(path, images, signature="serving_default", output="logits"):
  """Runs a signature of the model at `path` on one batch; returns `output`."""
  runner = interpreter(path).get_signature_runner(signature)
  inputs = runner.get_input_details()
  name = next(iter(inputs))
  outputs = runner(**{name: np.asarray(images, inputs[name]["dtype"])})
  if output not in outputs:
    raise ValueError(f"The model at {path} has no output {output!r}; it has "
                     f"{sorted(outputs)}.")
  return outputs[output]
