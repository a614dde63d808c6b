"""ResNets: CIFAR ResNets (basic or bottleneck blocks) and ImageNet ResNet-50.

`resnet_cifar` with basic blocks is He et al.'s 6n+2 network (ResNet-20/32/44/56/
110: three stages of n blocks, 16/32/64 channels, 1x1 projection shortcuts when
the shape changes). With bottleneck blocks it is the 9n+2 network of the KD ticket
reference code's ResNet-56/110 (1x1-3x3-1x1 blocks, expansion 4).
"""

import tf_keras as keras

from kdticket_tf.models import catalog

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def conv(filters, kernel, stride, name, layer=keras.layers.Conv2D):
  """A ResNet convolution: "same" padding, no bias, He-normal init."""
  return layer(filters, kernel, strides=stride, padding="same", use_bias=False,
               kernel_initializer="he_normal", name=name)


def batch_norm(name):
  """A ResNet BatchNorm (momentum 0.9, epsilon 1e-5)."""
  return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM,
                                         epsilon=_BN_EPSILON, name=name)


def _shortcut(x, filters, stride, name):
  if stride == 1 and x.shape[-1] == filters:
    return x
  x = conv(filters, 1, stride, name + "_shortcut_conv")(x)
  return batch_norm(name + "_shortcut_bn")(x)


def basic_block(x, filters, stride, name):
  """3x3-3x3 residual block."""
  shortcut = _shortcut(x, filters, stride, name)
  y = conv(filters, 3, stride, name + "_conv1")(x)
  y = keras.layers.ReLU(name=name + "_relu1")(batch_norm(name + "_bn1")(y))
  y = batch_norm(name + "_bn2")(conv(filters, 3, 1, name + "_conv2")(y))
  y = keras.layers.Add(name=name + "_add")([shortcut, y])
  return keras.layers.ReLU(name=name + "_relu2")(y)


def bottleneck_block(x, filters, stride, name, expansion=4):
  """1x1-3x3-1x1 residual block with `filters * expansion` outputs."""
  shortcut = _shortcut(x, filters * expansion, stride, name)
  y = conv(filters, 1, 1, name + "_conv1")(x)
  y = keras.layers.ReLU(name=name + "_relu1")(batch_norm(name + "_bn1")(y))
  y = conv(filters, 3, stride, name + "_conv2")(y)
  y = keras.layers.ReLU(name=name + "_relu2")(batch_norm(name + "_bn2")(y))
  y = conv(filters * expansion, 1, 1, name + "_conv3")(y)
  y = batch_norm(name + "_bn3")(y)
  y = keras.layers.Add(name=name + "_add")([shortcut, y])
  return keras.layers.ReLU(name=name + "_relu3")(y)


@catalog.register("resnet_cifar")
def resnet_cifar(config, input_shape, num_classes):
  """CIFAR ResNet of `config.depth`, `config.block` blocks, `config.width`."""
  bottleneck = config.block == "bottleneck"
  blocks = (config.depth - 2) // (9 if bottleneck else 6)
  block_fn = bottleneck_block if bottleneck else basic_block
  inputs = keras.Input(input_shape, name="image")
  x = conv(config.width, 3, 1, "conv1")(inputs)
  x = keras.layers.ReLU(name="relu1")(batch_norm("bn1")(x))
  for stage in range(3):
    filters = config.width * 2**stage
    for index in range(blocks):
      stride = 2 if stage > 0 and index == 0 else 1
      x = block_fn(x, filters, stride, f"stage{stage + 1}_block{index + 1}")
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  kind = "bottleneck" if bottleneck else "basic"
  return keras.Model(inputs, logits, name=f"resnet{config.depth}_{kind}")


@catalog.register("resnet50")
def resnet50(config, input_shape, num_classes):
  """ImageNet ResNet-50 (v1.5: stride on the 3x3 convolution)."""
  del config
  inputs = keras.Input(input_shape, name="image")
  x = conv(64, 7, 2, "conv1")(inputs)
  x = keras.layers.ReLU(name="relu1")(batch_norm("bn1")(x))
  x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
  for stage, (filters, blocks) in enumerate(
      ((64, 3), (128, 4), (256, 6), (512, 3))):
    for index in range(blocks):
      stride = 2 if stage > 0 and index == 0 else 1
      x = bottleneck_block(x, filters, stride,
                           f"stage{stage + 1}_block{index + 1}")
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name="resnet50")
