"""The allowlist of Keras 3 layers: each one's translation computes the same.

Every layer class of `allowlist.LAYERS` (with settings away from its defaults
and random weights, so that a field or weight lost or misplaced shows) is
compared with its tf_keras translation on a batch, within 1e-5; so are the
activations, regularizers and constraints the fields may name. A class, field
or value outside the allowlist is refused, naming the layer, its class and
what is accepted.
"""

from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf
import tf_keras

import kdticket_tf  # pylint: disable=unused-import
from kdticket_tf.keras3 import allowlist
from kdticket_tf.keras3 import translate

L = keras.layers


def _randomized(model, seed=0):
  """`model` with every weight drawn anew in [0.2, 1.2) (positive variances)."""
  rng = np.random.default_rng(seed)
  model.set_weights([rng.uniform(0.2, 1.2, w.shape).astype(np.float32)
                     for w in model.get_weights()])
  return model


def _one_layer(shape, layer, dtype="float32"):
  inputs = keras.Input(shape, dtype=dtype, name="x")
  return keras.Model(inputs, layer(inputs), name="one_layer")


def _merge(layer):
  inputs = keras.Input((6,), name="x")
  branches = [L.Dense(4, name="left")(inputs), L.Dense(4, name="right")(inputs)]
  return keras.Model(inputs, layer(branches), name="merge")


def _embedding():
  inputs = keras.Input((5,), dtype="int32", name="tokens")
  vectors = L.Embedding(20, 4)(inputs)
  return keras.Model(inputs, L.GlobalAveragePooling1D()(vectors))


# name -> (input shape, the Keras 3 layer), one of each allowlisted class.
_CASES = {
    "dense": ((6,), lambda: L.Dense(
        4, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01),
        bias_constraint=keras.constraints.NonNeg())),
    "conv1d": ((10, 3), lambda: L.Conv1D(4, 3, padding="causal",
                                         dilation_rate=2, activation="relu")),
    "conv2d": ((8, 8, 3), lambda: L.Conv2D(4, 3, strides=2, padding="same",
                                           activation="gelu")),
    "depthwise_conv1d": ((10, 3), lambda: L.DepthwiseConv1D(
        3, depth_multiplier=2)),
    "depthwise_conv2d": ((8, 8, 3), lambda: L.DepthwiseConv2D(
        3, depth_multiplier=2, padding="same")),
    "separable_conv1d": ((10, 3), lambda: L.SeparableConv1D(4, 3)),
    "separable_conv2d": ((8, 8, 3), lambda: L.SeparableConv2D(
        4, 3, depth_multiplier=2, activation="swish")),
    "batch_normalization": ((4, 4, 3), lambda: L.BatchNormalization(
        momentum=0.9, epsilon=1e-2)),
    "layer_normalization": ((6,), lambda: L.LayerNormalization(epsilon=1e-4)),
    "activation": ((6,), lambda: L.Activation("selu")),
    "relu": ((6,), lambda: L.ReLU(max_value=1.0, negative_slope=0.1,
                                  threshold=0.5)),
    "leaky_relu": ((6,), lambda: L.LeakyReLU(negative_slope=0.2)),
    "elu": ((6,), lambda: L.ELU(alpha=0.5)),
    "prelu": ((4, 4, 3), lambda: L.PReLU(shared_axes=[1, 2])),
    "softmax": ((6,), lambda: L.Softmax()),
    "dropout": ((6,), lambda: L.Dropout(0.5, seed=3)),
    "max_pooling1d": ((10, 3), lambda: L.MaxPooling1D(2)),
    "max_pooling2d": ((8, 8, 3), lambda: L.MaxPooling2D(
        3, strides=1, padding="same")),
    "average_pooling1d": ((10, 3), lambda: L.AveragePooling1D(3, strides=2)),
    "average_pooling2d": ((8, 8, 3), lambda: L.AveragePooling2D(
        3, padding="same")),
    "global_max_pooling1d": ((10, 3), lambda: L.GlobalMaxPooling1D(
        keepdims=True)),
    "global_max_pooling2d": ((8, 8, 3), L.GlobalMaxPooling2D),
    "global_average_pooling1d": ((10, 3), L.GlobalAveragePooling1D),
    "global_average_pooling2d": ((8, 8, 3), lambda: L.GlobalAveragePooling2D(
        keepdims=True)),
    "flatten": ((4, 4, 3), L.Flatten),
    "reshape": ((12,), lambda: L.Reshape((4, 3))),
    "permute": ((3, 4), lambda: L.Permute((2, 1))),
    "zero_padding1d": ((10, 3), lambda: L.ZeroPadding1D((1, 2))),
    "zero_padding2d": ((8, 8, 3), lambda: L.ZeroPadding2D(((1, 0), (2, 1)))),
    "cropping1d": ((10, 3), lambda: L.Cropping1D((1, 2))),
    "cropping2d": ((8, 8, 3), lambda: L.Cropping2D(((1, 0), (0, 2)))),
    "up_sampling1d": ((10, 3), lambda: L.UpSampling1D(2)),
    "up_sampling2d": ((4, 4, 3), lambda: L.UpSampling2D(
        2, interpolation="bilinear")),
    "rescaling": ((6,), lambda: L.Rescaling(1 / 255.0, offset=-0.5)),
}
_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
           "Concatenate")


class AllowlistTest(tf.test.TestCase, parameterized.TestCase):

  def _assert_same(self, model, inputs):
    translated = translate.translate(_randomized(model))
    self.assertLessEqual(translate.check_outputs(model, translated, inputs),
                         translate.TOLERANCE)
    self.assertEqual(
        [(l.name, type(l).__name__) for l in translated.layers],
        [(l.name, type(l).__name__) for l in model.layers])
    return translated

  @parameterized.named_parameters(
      *[(name, shape, make) for name, (shape, make) in _CASES.items()])
  def test_each_layer_computes_what_its_keras3_original_does(self, shape,
                                                              make):
    inputs = np.random.default_rng(1).normal(size=(3,) + shape)
    self._assert_same(_one_layer(shape, make()), inputs.astype(np.float32))

  def test_every_allowlisted_layer_is_compared(self):
    compared = {type(make()).__name__ for _, make in _CASES.values()}
    self.assertEqual(compared | set(_MERGES) | {"Embedding"},
                     set(allowlist.LAYERS))

  @parameterized.parameters(*_MERGES)
  def test_each_merge_computes_what_its_keras3_original_does(self, name):
    inputs = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
    self._assert_same(_merge(getattr(L, name)()), inputs)

  def test_an_embedding_on_integer_inputs(self):
    tokens = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 19, 0]], np.int32)
    self._assert_same(_embedding(), tokens)

  def test_every_activation_is_the_same_function(self):
    inputs = np.linspace(-4, 4, 33, dtype=np.float32).reshape(3, 11)
    for name in allowlist.ACTIVATIONS:
      with self.subTest(name):
        self._assert_same(_one_layer((11,), L.Dense(11, activation=name)),
                          inputs)

  def test_regularizers_add_the_same_losses_and_constraints_are_kept(self):
    model = _one_layer((6,), L.Dense(
        4, kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.02),
        bias_regularizer=keras.regularizers.L1(0.03),
        activity_regularizer=keras.regularizers.L2(0.04),
        kernel_constraint=keras.constraints.MaxNorm(2.0, axis=0)))
    inputs = np.random.default_rng(3).normal(size=(3, 6)).astype(np.float32)
    translated = self._assert_same(model, inputs)
    model(inputs)
    translated(inputs)
    self.assertAllClose(sum(float(l) for l in model.losses),
                        sum(float(l) for l in translated.losses), rtol=1e-6)
    self.assertLen(translated.losses, 3)  # the activity regularizer kept too
    constraint = translated.layers[-1].kernel_constraint
    self.assertIsInstance(constraint, tf_keras.constraints.MaxNorm)
    self.assertEqual(constraint.get_config(), {"max_value": 2.0, "axis": 0})

  def test_initializers_are_not_needed_their_weights_are_copied(self):
    model = _one_layer((6,), L.Dense(
        4, kernel_initializer=keras.initializers.Orthogonal(seed=5)))
    translated = translate.translate(model)
    for expected, found in zip(model.get_weights(), translated.get_weights()):
      self.assertAllEqual(expected, found)

  @parameterized.named_parameters(
      ("lstm", (5, 4), lambda: L.LSTM(3), "of class LSTM, which kdticket_tf "
       "cannot translate to tf_keras"),
      ("lambda", (4,), lambda: L.Lambda(tf.square),
       "of class Lambda, which kdticket_tf cannot translate"),
      ("subclass", (4,), lambda: type("MyDense", (L.Dense,), {})(3),
       r"of class MyDense \(a subclass of Dense\)"),
      ("mixed_precision", (4,), lambda: L.Dense(3, dtype="mixed_float16"),
       r"\(Dense\) with dtype policy 'mixed_float16', which the translation "
       "to tf_keras cannot keep; it accepts the float32 policy"),
      ("lora", (4,), lambda: L.Dense(3, lora_rank=2),
       "with lora_rank=2, which the translation to tf_keras cannot keep; "
       "it accepts lora_rank=None"),
      ("rms_scaling", (4,), lambda: L.LayerNormalization(rms_scaling=True),
       r"\(LayerNormalization\) with rms_scaling=True.*rms_scaling=False"),
      ("orthogonal_regularizer", (4,), lambda: L.Dense(
          3, kernel_regularizer=keras.regularizers.OrthogonalRegularizer()),
       "kernel_regularizer='OrthogonalRegularizer'.*it accepts "
       "kernel_regularizer None or one of L1, L2, L1L2"),
      ("activity_regularizer_left_out_of_get_config", (4,), lambda: L.Dense(
          3, activity_regularizer=keras.regularizers.OrthogonalRegularizer()),
       "activity_regularizer='OrthogonalRegularizer'"),
      ("custom_activation", (4,), lambda: L.Dense(3, activation=tf.math.sin),
       "activation='sin'.*activation one of linear, relu"),
      ("hard_sigmoid", (4,), lambda: L.Activation("hard_sigmoid"),
       "activation='hard_sigmoid'"),
      ("masks", (4,), lambda: L.Embedding(10, 2, mask_zero=True),
       "with mask_zero=True.*it accepts mask_zero=False"),
  )
  def test_what_is_outside_the_allowlist_is_refused_naming_it(
      self, shape, make, message):
    model = _one_layer(shape, make())
    layer = model.layers[-1]
    with self.assertRaisesRegex(
        ValueError, f"^model_fn's Keras 3 model 'one_layer' has layer "
        f"'{layer.name}' .*{message}"):
      translate.translate(model)

  def test_a_field_the_allowlist_does_not_know_is_refused_not_dropped(self):
    layer = L.Dense(3)
    config = dict(layer.get_config(), new_field=1)
    with mock.patch.object(layer, "get_config", lambda: config):
      with self.assertRaisesRegex(
          ValueError, r"layer 'dense\w*' \(Dense\) with the field "
          "new_field=1, which the translation to tf_keras does not know and "
          "will not drop; it translates Dense with the fields name, "):
        allowlist.layer(layer, "m")


if __name__ == "__main__":
  tf.test.main()
