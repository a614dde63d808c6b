"""Frankle & Carbin's networks: LeNet-300-100 and Conv-2/4/6."""

import tf_keras as keras

from kdticket_tf.models import catalog


@catalog.register("lenet_300_100")
def lenet_300_100(config, input_shape, num_classes):
  """LeNet-300-100: two hidden ReLU layers of 300 and 100 units."""
  del config
  inputs = keras.Input(input_shape, name="image")
  x = keras.layers.Flatten(name="flatten")(inputs)
  x = keras.layers.Dense(300, activation="relu", name="fc1")(x)
  x = keras.layers.Dense(100, activation="relu", name="fc2")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name="lenet_300_100")


def _conv_net(name, stages, input_shape, num_classes):
  inputs = keras.Input(input_shape, name="image")
  x = inputs
  for stage, filters in enumerate(stages, start=1):
    for index in (1, 2):
      x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                              name=f"conv{stage}_{index}")(x)
    x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  x = keras.layers.Dense(256, activation="relu", name="fc1")(x)
  x = keras.layers.Dense(256, activation="relu", name="fc2")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name=name)


@catalog.register("conv2")
def conv2(config, input_shape, num_classes):
  """Conv-2: 64-64-pool, then FC 256-256."""
  del config
  return _conv_net("conv2", (64,), input_shape, num_classes)


@catalog.register("conv4")
def conv4(config, input_shape, num_classes):
  """Conv-4: 64-64-pool-128-128-pool, then FC 256-256."""
  del config
  return _conv_net("conv4", (64, 128), input_shape, num_classes)


@catalog.register("conv6")
def conv6(config, input_shape, num_classes):
  """Conv-6: 64-64-pool-128-128-pool-256-256-pool, then FC 256-256."""
  del config
  return _conv_net("conv6", (64, 128, 256), input_shape, num_classes)
