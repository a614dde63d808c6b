"""Networks built narrow from the start: controls for compacted channel tickets.

A compacted channel ticket should run exactly as fast as the same architecture
built at its widths. `tools/channel_benchmark.sh` trains these as dense runs
(`--model=width_controls:lenet_60_20`, with `tools/` on the Python path) and
times them beside the tickets; ResNet-20's control is the registered
`resnet_cifar` at `--width=8`.
"""

import tf_keras as keras


def lenet_60_20(input_shape, num_classes):
  """LeNet-300-100 with 80% of its hidden units gone: 60 and 20 units."""
  inputs = keras.Input(input_shape, name="image")
  x = keras.layers.Flatten(name="flatten")(inputs)
  x = keras.layers.Dense(60, activation="relu", name="fc1")(x)
  x = keras.layers.Dense(20, activation="relu", name="fc2")(x)
  logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
  return keras.Model(inputs, logits, name="lenet_60_20")
