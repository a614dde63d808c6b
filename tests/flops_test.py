"""Tests of the parameter and multiply-add counts, against hand counts."""

import tensorflow as tf
import tf_keras as keras

from kdticket_tf import config
from kdticket_tf import models
from kdticket_tf.export import flops

layers = keras.layers


class FlopsTest(tf.test.TestCase):

  def test_lenet_300_100(self):
    model = models.build(config.ModelConfig(name="lenet_300_100"),
                         (28, 28, 1), 10)
    macs = 784 * 300 + 300 * 100 + 100 * 10
    self.assertEqual(flops.totals(model),
                     {"parameters": macs + 300 + 100 + 10, "macs": macs})
    self.assertEqual(flops.costs(model)["fc2"],
                     {"parameters": 300 * 100 + 100, "macs": 300 * 100})

  def test_convolutions_count_their_output_positions(self):
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, name="conv")(inputs)  # 6 x 6 positions
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = layers.Conv2DTranspose(2, 2, strides=2, name="up")(x)  # from 3 x 3
    x = layers.Conv1D(5, 2, name="conv1d")(layers.Reshape((36, 2))(x))
    model = keras.Model(inputs, layers.Dense(7, name="fc")(x))
    costs = flops.costs(model)
    self.assertEqual(costs["conv"]["macs"], 3 * 3 * 3 * 4 * 36)
    self.assertEqual(costs["bn"], {"parameters": 16, "macs": 0})
    self.assertEqual(costs["dw"]["macs"], 3 * 3 * 4 * 9)
    self.assertEqual(costs["up"]["macs"], 2 * 2 * 2 * 4 * 9)
    self.assertEqual(costs["conv1d"]["macs"], 2 * 2 * 5 * 35)
    self.assertEqual(costs["fc"]["macs"], 5 * 7 * 35)  # per position
    self.assertEqual(flops.totals(model)["macs"],
                     sum(c["macs"] for c in costs.values()))


if __name__ == "__main__":
  tf.test.main()
