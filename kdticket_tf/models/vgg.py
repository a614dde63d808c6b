"""VGG-16 and VGG-19 for CIFAR (batch norm, global average pooling, one FC)."""

import tf_keras as keras

from kdticket_tf.models import catalog

_PLANS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
              "M", 512, 512, 512),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512,
              512, 512, "M", 512, 512, 512, 512),
}


def _vgg(name, input_shape, num_classes):
  inputs = keras.Input(input_shape, name="image")
  x = inputs
  conv_index = pool_index = 0
  for item in _PLANS[name]:
    if item == "M":
      pool_index += 1
      x = keras.layers.MaxPooling2D(2, name=f"pool{pool_index}")(x)
      continue
    conv_index += 1
    x = keras.layers.Conv2D(item, 3, padding="same", use_bias=False,
                            kernel_initializer="he_normal",
                            name=f"conv{conv_index}")(x)
    x = keras.layers.BatchNormalization(name=f"bn{conv_index}")(x)
    x = keras.layers.ReLU(name=f"relu{conv_index}")(x)
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name=name)


@catalog.register("vgg16")
def vgg16(config, input_shape, num_classes):
  """VGG-16 (CIFAR variant)."""
  del config
  return _vgg("vgg16", input_shape, num_classes)


@catalog.register("vgg19")
def vgg19(config, input_shape, num_classes):
  """VGG-19 (CIFAR variant)."""
  del config
  return _vgg("vgg19", input_shape, num_classes)
