"""Networks for 1-D inputs `[length, channels]` (MNIST-1D).

* `mlp1d`: the MNIST-1D paper's MLP, two hidden ReLU layers of
  `ModelConfig.width` units (the paper uses 100).
* `conv1d`: the paper's small ConvNet, three ReLU convolutions of
  `ModelConfig.width` channels (the paper uses 25; kernel 5, then 3 and 3,
  stride 2), flattened into the logits layer.
* `resnet1d`: a 1-D ResNet with BatchNorm: `resnet_cifar`'s 6n+2 plan
  (`ModelConfig.depth`) with 1-D convolutions, three stages of
  `width`, 2x`width`, 4x`width` channels, global average pooling.
"""

import tf_keras as keras

from kdticket_tf.models import catalog
from kdticket_tf.models import resnet


@catalog.register("mlp1d")
def mlp1d(config, input_shape, num_classes):
  """MLP: flatten, two hidden ReLU layers of `config.width` units."""
  inputs = keras.Input(input_shape, name="sequence")
  x = keras.layers.Flatten(name="flatten")(inputs)
  x = keras.layers.Dense(config.width, activation="relu", name="fc1")(x)
  x = keras.layers.Dense(config.width, activation="relu", name="fc2")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name="mlp1d")


@catalog.register("conv1d")
def conv1d(config, input_shape, num_classes):
  """ConvNet: three stride-2 ReLU convolutions of `config.width` channels."""
  inputs = keras.Input(input_shape, name="sequence")
  x = inputs
  for index, kernel in enumerate((5, 3, 3), start=1):
    x = keras.layers.Conv1D(config.width, kernel, strides=2, padding="same",
                            activation="relu", name=f"conv{index}")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name="conv1d")


def _conv(filters, kernel, stride, name):
  return resnet.conv(filters, kernel, stride, name, keras.layers.Conv1D)


_bn = resnet.batch_norm


def _block(x, filters, stride, name):
  shortcut = x
  if stride != 1 or x.shape[-1] != filters:
    shortcut = _bn(name + "_shortcut_bn")(
        _conv(filters, 1, stride, name + "_shortcut_conv")(x))
  y = _conv(filters, 3, stride, name + "_conv1")(x)
  y = keras.layers.ReLU(name=name + "_relu1")(_bn(name + "_bn1")(y))
  y = _bn(name + "_bn2")(_conv(filters, 3, 1, name + "_conv2")(y))
  y = keras.layers.Add(name=name + "_add")([shortcut, y])
  return keras.layers.ReLU(name=name + "_relu2")(y)


@catalog.register("resnet1d")
def resnet1d(config, input_shape, num_classes):
  """1-D ResNet of `config.depth` (6n+2) and first-stage `config.width`."""
  blocks = (config.depth - 2) // 6
  inputs = keras.Input(input_shape, name="sequence")
  x = _conv(config.width, 3, 1, "conv1")(inputs)
  x = keras.layers.ReLU(name="relu1")(_bn("bn1")(x))
  for stage in range(3):
    for index in range(blocks):
      stride = 2 if stage > 0 and index == 0 else 1
      x = _block(x, config.width * 2**stage, stride,
                 f"stage{stage + 1}_block{index + 1}")
  x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name=f"resnet1d_{config.depth}")
