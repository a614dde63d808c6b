"""A Keras 3 model's graph rebuilt as tf_keras: same layers, wiring, weights.

A functional ConvNet (BatchNormalization called with `training=False`, a
residual Add, a layer shared by two calls) and a Sequential MLP translate to
tf_keras models of the same names, classes and weights that compute the same
outputs within 1e-5; weights copy both ways. A subclassed model, a nested
model, a layer instead of a model and a call argument the translation would
drop are refused, naming them; `check_outputs` refuses a translation that
computes something else.
"""

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import kdticket_tf  # pylint: disable=unused-import
from kdticket_tf.keras3 import translate

L = keras.layers


def convnet():
  """Conv2D, BatchNormalization, a residual Add, pooling, a shared Dense."""
  inputs = keras.Input((8, 8, 3), name="images")
  x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
  x = L.BatchNormalization(name="bn")(x, training=False)
  branch = L.Conv2D(6, 1, name="shortcut")(x)
  x = L.Add(name="residual")([x, branch])
  x = L.GlobalAveragePooling2D(name="pool")(x)
  shared = L.Dense(6, activation="relu", name="shared")
  x = shared(shared(x))
  return keras.Model(inputs, L.Dense(3, name="logits")(x), name="convnet")


def mlp():
  return keras.Sequential([keras.Input((12,)),
                           L.Dense(16, activation="relu", name="hidden"),
                           L.Dropout(0.1), L.Dense(4, name="logits")],
                          name="mlp")


def _images(count=4):
  return np.random.default_rng(0).normal(size=(count, 8, 8, 3)).astype(
      np.float32)


class _Subclassed(keras.Model):

  def __init__(self):
    super().__init__()
    self.dense = L.Dense(3)

  def call(self, inputs):
    return self.dense(inputs)


class TranslateTest(tf.test.TestCase):

  def test_a_functional_convnet_is_the_same_network_in_tf_keras(self):
    model = convnet()
    statistics = model.get_layer("bn")
    statistics.set_weights([w + 0.5 for w in statistics.get_weights()])
    translated = translate.translate(model)
    self.assertIsInstance(translated, tf_keras.Model)
    self.assertEqual(type(translated).__name__, "Functional")
    self.assertEqual(translated.name, "convnet")
    self.assertEqual([(l.name, type(l).__name__) for l in translated.layers],
                     [(l.name, type(l).__name__) for l in model.layers])
    for layer in model.layers:
      for expected, found in zip(layer.get_weights(), translated.get_layer(
          layer.name).get_weights()):
        self.assertAllEqual(expected, found)
    # The shared layer is one layer called twice; the Add joins two branches.
    self.assertLen(translated.get_layer("shared").inbound_nodes, 2)
    self.assertLen(translated.get_layer("residual").input, 2)
    self.assertLessEqual(
        translate.check_outputs(model, translated, _images()),
        translate.TOLERANCE)

  def test_a_sequential_mlp_is_a_tf_keras_sequential(self):
    model = mlp()
    translated = translate.translate(model)
    self.assertIsInstance(translated, tf_keras.Sequential)
    self.assertEqual([l.name for l in translated.layers],
                     [l.name for l in model.layers])
    self.assertEqual(translated.input_shape, (None, 12))
    inputs = np.random.default_rng(1).normal(size=(5, 12)).astype(np.float32)
    self.assertAllClose(model(inputs), translated(inputs), atol=1e-6)

  def test_a_sequential_without_input_translates_unbuilt(self):
    # The search then refuses it as it refuses a tf_keras one (checks_test).
    translated = translate.translate(keras.Sequential([L.Dense(3)]))
    self.assertFalse(translated.built)

  def test_frozen_layers_stay_frozen(self):
    model = mlp()
    model.layers[0].trainable = False
    translated = translate.translate(model)
    self.assertFalse(translated.layers[0].trainable)
    self.assertLen(translated.trainable_weights, 2)

  def test_weights_copy_back_into_the_keras3_model(self):
    model, other = mlp(), mlp()
    translated = translate.translate(model)
    translated.layers[0].kernel.assign(tf.zeros_like(
        translated.layers[0].kernel))
    translate.copy_weights(translated, other)
    self.assertAllEqual(other.layers[0].get_weights()[0],
                        np.zeros((12, 16), np.float32))
    self.assertAllEqual(other.layers[2].get_weights()[0],
                        model.layers[2].get_weights()[0])

  def test_a_translation_that_computes_otherwise_is_refused(self):
    model = convnet()
    translated = translate.translate(model)
    bias = translated.get_layer("logits").bias
    bias.assign(bias + 1e-3)
    with self.assertRaisesRegex(
        ValueError, r"^model_fn's Keras 3 model 'convnet' and its tf_keras "
        r"translation differ by 0\.001 on the test batch \(more than 1e-05\)"):
      translate.check_outputs(model, translated, _images(), "the test batch")

  def test_a_subclassed_model_is_refused(self):
    with self.assertRaisesRegex(
        ValueError, r"^model_fn returned a subclassed Keras 3 model "
        r"\(_Subclassed\); find_tickets translates Keras 3 Sequential and "
        "functional models only"):
      translate.translate(_Subclassed())

  def test_a_layer_is_refused_as_no_model(self):
    with self.assertRaisesRegex(
        ValueError, r"^model_fn returned a Keras 3 Dense \('head'\), not a "
        "model"):
      translate.translate(L.Dense(3, name="head"))

  def test_a_nested_model_is_refused_naming_it(self):
    inputs = keras.Input((12,))
    outputs = L.Dense(3)(mlp()(inputs))
    with self.assertRaisesRegex(
        ValueError, "has layer 'mlp' of class Sequential, which kdticket_tf "
        "cannot translate"):
      translate.translate(keras.Model(inputs, outputs))

  def test_a_call_argument_it_would_drop_is_refused(self):
    inputs = keras.Input((4,))
    mask = keras.Input((4,), dtype="bool")
    outputs = L.Softmax(name="masked")(inputs, mask=mask)
    with self.assertRaisesRegex(
        ValueError, "calls layer 'masked' with the argument mask=, which the "
        "translation to tf_keras does not pass on"):
      translate.translate(keras.Model([inputs, mask], outputs))

  def test_a_sparse_input_is_refused(self):
    inputs = keras.Input((4,), sparse=True, name="sparse_input")
    with self.assertRaisesRegex(
        ValueError, "has input 'sparse_input' with sparse=True, which the "
        "translation to tf_keras does not take"):
      translate.translate(keras.Model(inputs, L.Dense(2)(inputs)))


if __name__ == "__main__":
  tf.test.main()
