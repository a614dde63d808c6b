"""Tests of the fixed-mask TF-MOT wrapper: exact zeros, gradients, TF-MOT compatibility."""

import numpy as np
import tensorflow as tf
import tf_keras as keras
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
from absl.testing import parameterized

from kdticket_tf.training import fit as training
from kdticket_tf.pruning import wrapper


def _model(seed=0):
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((6,), name="x")
  hidden = keras.layers.Dense(8, activation="relu", name="fc1")(inputs)
  logits = keras.layers.Dense(3, name="logits")(hidden)
  return keras.Model(inputs, logits)


def _random_masks(model, seed=0):
  rng = np.random.default_rng(seed)
  return [(rng.random(w.shape) < 0.5).astype(np.float32)
          for _, w, _ in wrapper.prunable_variables(model)]


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(16, 6)).astype(np.float32),
          rng.integers(0, 3, size=16))


def _leaked(model):
  return sum(int(np.count_nonzero(w.numpy()[m.numpy() == 0]))
             for _, w, m in wrapper.prunable_variables(model))


class WrapperTest(tf.test.TestCase, parameterized.TestCase):

  def test_keep_dense_leaves_matching_layers_unwrapped(self):
    wrapped = wrapper.wrap_model(_model(), keep_dense=("logits",))
    self.assertEqual([l.layer.name for l in wrapper.pruning_layers(wrapped)],
                     ["fc1"])
    self.assertIsInstance(wrapper.pruning_layers(wrapped)[0],
                          pruning_wrapper.PruneLowMagnitude)

  def test_keep_dense_everything_raises(self):
    with self.assertRaisesRegex(ValueError, "No prunable layer"):
      wrapper.wrap_model(_model(), keep_dense=(".*",))

  def test_wrapped_model_shares_weights_with_base(self):
    base = _model()
    wrapped = wrapper.wrap_model(base)
    kernel = wrapper.prunable_variables(wrapped)[0][1]
    self.assertIs(kernel, base.get_layer("fc1").kernel)

  def test_set_masks_zeroes_pruned_weights_and_forward_uses_them(self):
    base = _model()
    wrapped = wrapper.wrap_model(base)
    wrapper.set_masks(wrapped, _random_masks(wrapped))
    self.assertEqual(_leaked(wrapped), 0)
    x, _ = _batch()
    self.assertAllClose(wrapped(x), base(x))

  @parameterized.named_parameters(
      ("sgd_momentum", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
      ("sgd_nesterov", lambda: keras.optimizers.SGD(0.1, momentum=0.9,
                                                    nesterov=True)),
      ("adam", lambda: keras.optimizers.Adam(1e-2)),
  )
  def test_pruned_weights_exactly_zero_after_every_fit_step(self, make_opt):
    wrapped = wrapper.wrap_model(_model())
    training.add_weight_decay(wrapped, 1e-3)
    wrapper.set_masks(wrapped, _random_masks(wrapped))
    wrapped.compile(make_opt(), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    before = [w.numpy().copy() for _, w, _ in wrapper.prunable_variables(wrapped)]
    for step in range(60):
      wrapped.train_on_batch(*_batch(step))
      self.assertEqual(_leaked(wrapped), 0, f"after step {step + 1}")
    after = [w.numpy() for _, w, _ in wrapper.prunable_variables(wrapped)]
    # The surviving weights did train.
    self.assertFalse(np.allclose(before[0], after[0]))

  def test_pruned_weights_zero_in_custom_tf_function_loop(self):
    wrapped = wrapper.wrap_model(_model())
    wrapper.set_masks(wrapped, _random_masks(wrapped))
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    x, y = _batch()

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            y, wrapped(x, training=True)))
      grads = tape.gradient(loss, wrapped.trainable_variables)
      optimizer.apply_gradients(zip(grads, wrapped.trainable_variables))
      return grads

    for _ in range(20):
      grads = step()
    _, kernel, mask = wrapper.prunable_variables(wrapped)[0]
    index = [i for i, v in enumerate(wrapped.trainable_variables)
             if v is kernel][0]
    pruned_gradients = grads[index].numpy()[mask.numpy() == 0]
    self.assertNotEmpty(pruned_gradients)
    self.assertTrue(np.all(pruned_gradients == 0.0))
    self.assertEqual(_leaked(wrapped), 0)

  def test_tfmot_wrapper_alone_leaves_pruned_weights_nonzero(self):
    # Why the extension exists: with TF-MOT's own wrapper the optimizer step
    # moves pruned weights off zero until the next forward pass re-masks them.
    base = _model()
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        base, pruning_schedule=wrapper.FixedMask())
    pruned.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    layer = [l for l in pruned.layers if hasattr(l, "pruning_vars")][0]
    weight, mask, _ = layer.pruning_vars[0]
    mask.assign((np.random.default_rng(0).random(mask.shape) < 0.5).astype(np.float32))
    weight.assign(weight * mask)
    x, y = _batch()
    pruned.fit(x, y, epochs=1, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    for _ in range(3):
      pruned.train_on_batch(x, y)
    self.assertGreater(
        np.count_nonzero(weight.numpy()[mask.numpy() == 0]), 0)

  def test_masks_are_never_recomputed_under_update_pruning_step(self):
    wrapped = wrapper.wrap_model(_model())
    masks = _random_masks(wrapped)
    wrapper.set_masks(wrapped, masks)
    wrapped.compile(keras.optimizers.SGD(0.5),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _batch()
    wrapped.fit(x, y, epochs=3, batch_size=4, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    for expected, actual in zip(masks, wrapper.get_masks(wrapped)):
      self.assertAllEqual(expected, actual)

  def test_strip_pruning_keeps_zeros(self):
    wrapped = wrapper.wrap_model(_model())
    masks = _random_masks(wrapped)
    wrapper.set_masks(wrapped, masks)
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    kernel = stripped.get_layer("fc1").kernel.numpy()
    self.assertAllEqual(kernel[masks[0] == 0], np.zeros(int((masks[0] == 0).sum())))
    x, _ = _batch()
    self.assertAllClose(stripped(x), wrapped(x))

  def test_wrong_mask_count_raises(self):
    wrapped = wrapper.wrap_model(_model())
    with self.assertRaisesRegex(ValueError, "2 prunable weights but 1"):
      wrapper.set_masks(wrapped, _random_masks(wrapped)[:1])

  @parameterized.named_parameters(
      ("sgd_momentum", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
      ("adam", lambda: keras.optimizers.Adam(1e-2)),
  )
  def test_pruned_channels_stay_zero_even_under_a_gradient(self, make_opt):
    # Only the channels' parameters are masked here (their consumers' inputs
    # are not), so their gradients are not zero: the constraint alone holds
    # them, after every step, and the layer's own constraint still applies.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(8, name="fc1",
                                bias_constraint=keras.constraints.NonNeg())(
                                    inputs)
    normed = keras.layers.BatchNormalization(name="bn")(hidden)
    wrapped = wrapper.wrap_model(keras.Model(
        inputs, keras.layers.Dense(3, name="logits")(normed)))
    wrapper.set_pruned_channels(wrapped, {"fc1": [0, 5], "bn": [0, 5]})
    self.assertEqual(
        [(name, list(keep)) for name, _, keep in
         wrapper.channel_masked_variables(wrapped)],
        [(name, [0, 1, 1, 1, 1, 0, 1, 1]) for name in ("fc1", "bn", "bn")])
    wrapped.compile(make_opt(), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    bias = wrapped.layers[1].layer.bias
    gamma, beta = wrapped.get_layer("bn").gamma, wrapped.get_layer("bn").beta
    for step in range(10):
      wrapped.train_on_batch(*_batch(step))
      for variable in (bias, gamma, beta):
        self.assertAllEqual(variable.numpy()[[0, 5]], [0.0, 0.0])
    self.assertTrue(np.all(bias.numpy() >= 0.0))  # NonNeg, still applied
    self.assertNotAllClose(gamma.numpy()[1:5], np.ones(4))  # the rest train

  def test_pruned_channels_stay_zero_under_a_distribution_strategy(self):
    # Mirrored variables: the constraint sits on each replica's copy.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
      wrapped = wrapper.wrap_model(_model())
      wrapper.set_pruned_channels(wrapped, {"fc1": [2]})
      wrapped.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
    bias = wrapped.layers[1].layer.bias
    self.assertIsInstance(bias, tf.distribute.DistributedValues)
    x, y = _batch()
    wrapped.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for value in bias.values:
      self.assertEqual(value.numpy()[2], 0.0)
      self.assertNotEqual(value.numpy()[0], 0.0)

  def test_pruned_channels_of_an_unknown_layer_are_refused(self):
    with self.assertRaisesRegex(ValueError, "Layer 'conv9' of the pruned "):
      wrapper.set_pruned_channels(wrapper.wrap_model(_model()),
                                  {"conv9": [1]})

  def test_sequential_models_are_wrapped(self):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Dense(2)])
    wrapped = wrapper.wrap_model(model)
    self.assertLen(wrapper.pruning_layers(wrapped), 2)


if __name__ == "__main__":
  tf.test.main()
