"""Parameters and multiply-adds (MACs) of a model, per layer, from its shapes.

What a compacted ticket saves, counted the usual way (one multiply-add per
weight and output position):

* Dense: `in * out` per output row (`kernel` size, times the leading
  dimensions of a Dense applied to a sequence);
* convolutions (1-D, 2-D, depthwise, separable): the kernels' sizes times the
  output positions; a transposed convolution: times the input positions;
* other layers (BatchNormalization, pooling, Add, activations) count no
  multiply-adds: inference folds a BatchNormalization into the convolution
  before it, and the rest are a small share.

The counts are of the model as built: zeros in a kernel count like any other
weight (a ticket's zeros save nothing until it is compacted).
"""

import numpy as np

_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _positions(shape):
  """Output positions of one example: the product of the inner dimensions
  (an unknown dimension counts 1)."""
  return int(np.prod([d or 1 for d in shape[1:-1]], dtype=np.int64))


def layer_macs(layer):
  """Multiply-adds of one call of `layer` on one example, summed over calls."""
  kernels = [getattr(layer, name) for name in _KERNELS
             if getattr(layer, name, None) is not None]
  kernels = [k for k in kernels if len(k.shape) >= 2]
  if not kernels:
    return 0
  size = sum(int(np.prod(k.shape)) for k in kernels)
  transposed = "Transpose" in type(layer).__name__
  total = 0
  for node in layer.inbound_nodes:
    shapes = node.input_shapes if transposed else node.output_shapes
    shape = shapes[0] if isinstance(shapes, list) else shapes
    total += size * _positions(tuple(shape))
  return total


def costs(model):
  """Returns `{layer: {"parameters", "macs"}}` of every layer with either."""
  found = {}
  for layer in model.layers:
    parameters, macs = int(layer.count_params()), layer_macs(layer)
    if parameters or macs:
      found[layer.name] = {"parameters": parameters, "macs": macs}
  return found


def totals(model):
  """Returns `{"parameters", "macs"}` of `model` (one example)."""
  return {"parameters": int(model.count_params()),
          "macs": sum(layer_macs(layer) for layer in model.layers)}
