"""A ticket written back as a `.keras` file that a plain Keras 3 process loads.

The file holds the ticket's weights exactly (its zeros where they were),
computes what the tf_keras ticket computes, and opens with
`keras.saving.load_model` in a process that imports neither kdticket_tf nor
tf_keras and leaves `TF_USE_LEGACY_KERAS` unset.
"""

import os

import keras
import numpy as np
import tensorflow as tf

import kdticket_tf  # pylint: disable=unused-import
from kdticket_tf.keras3 import keras_file
from kdticket_tf.keras3 import translate
from tests import testing

L = keras.layers


def _convnet():
  inputs = keras.Input((6, 6, 2), name="images")
  x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
  x = L.BatchNormalization(name="bn")(x)
  x = L.Add(name="residual")([x, L.Conv2D(4, 1, name="shortcut")(x)])
  x = L.GlobalAveragePooling2D(name="pool")(x)
  return keras.Model(inputs, L.Dense(3, name="logits")(x), name="convnet")


class KerasFileTest(tf.test.TestCase):

  def test_a_ticket_loads_in_plain_keras3_with_its_zeros_and_outputs(self):
    ticket = translate.translate(_convnet())
    # A ticket: half of each kernel pruned to exactly zero.
    for layer in ticket.layers:
      if hasattr(layer, "kernel"):
        kernel = layer.kernel.numpy()
        kernel.flat[::2] = 0.0
        layer.kernel.assign(kernel)
    folder = self.get_temp_dir()
    path = os.path.join(folder, "model.keras")
    fresh = _convnet()  # the user's model_fn builds a fresh one
    self.assertEqual(keras_file.write(fresh, ticket, path),
                     {"keras_file": "model.keras",
                      "keras_version": keras.__version__})
    inputs = np.random.default_rng(0).normal(size=(5, 6, 6, 2)).astype(
        np.float32)
    printed, [(outputs, weights)] = testing.load_in_keras3([path], inputs,
                                                           folder)
    self.assertEqual(printed, f"{keras.__version__} []")
    for layer in ticket.layers:
      for index, value in enumerate(layer.get_weights()):
        self.assertAllEqual(weights[f"{layer.name}/{index}"], value)
    self.assertEqual(np.count_nonzero(weights["conv/0"]),
                     np.count_nonzero(ticket.get_layer("conv").kernel))
    self.assertAllClose(outputs, ticket(inputs, training=False), atol=1e-5,
                        rtol=0)


if __name__ == "__main__":
  tf.test.main()
