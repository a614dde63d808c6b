"""Tests of compaction: a channel ticket rebuilt narrower computes the same."""

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

from kdticket_tf import config
from kdticket_tf import models
from kdticket_tf.export import compaction
from kdticket_tf.pruning import channel_groups
from tests import testing

layers = keras.layers


def conv_bn_flatten(input_shape=(12, 12, 3)):
  """Conv-BN-ReLU twice, pooling, a Flatten and a Dense head."""
  inputs = keras.Input(input_shape, name="image")
  x = layers.Conv2D(8, 3, name="conv1")(inputs)
  x = layers.ReLU(name="relu1")(layers.BatchNormalization(name="bn1")(x))
  x = layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv2")(x)
  x = layers.ReLU(name="relu2")(layers.BatchNormalization(name="bn2")(x))
  x = layers.MaxPooling2D(2, name="pool")(x)
  x = layers.Flatten(name="flatten")(x)
  x = layers.Dense(12, activation="relu", name="fc")(x)
  return keras.Model(inputs, layers.Dense(4, name="logits")(x), name="convnet")


def inputs_for(model, batch_size=8, seed=2):
  shape = (batch_size,) + tuple(model.inputs[0].shape[1:])
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def op_types(model, inputs):
  graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
      tf.TensorSpec((None,) + inputs.shape[1:], tf.float32)).graph
  return {op.type for op in graph.get_operations()}


class CompactionTest(tf.test.TestCase, parameterized.TestCase):

  def assert_same_function(self, ticket, compacted, inputs):
    """Equal within 1e-5 in inference and training mode, eagerly and in a
    tf.function."""
    for training in (False, True):
      expected = ticket(inputs, training=training).numpy()
      self.assertAllClose(compacted(inputs, training=training), expected,
                          atol=1e-5, rtol=0)
      in_graph = tf.function(lambda x, t=training: compacted(x, training=t))
      self.assertAllClose(in_graph(inputs), expected, atol=1e-5, rtol=0)

  def test_lenet_units_removed_with_hand_counted_parameters(self):
    model = models.build(config.ModelConfig(name="lenet_300_100"),
                         (28, 28, 1), 10)
    graph, chosen = testing.channel_ticket(model)
    result = compaction.compact(model, graph)
    self.assertEqual(set(result.removed), set(chosen))
    self.assertEqual(result.kept_zero, ())
    fc1 = 300 - sum(1 for g in chosen if g.producers[0][0] == "fc1")
    fc2 = 100 - sum(1 for g in chosen if g.producers[0][0] == "fc2")
    self.assertBetween(fc1, 100, 200)
    self.assertEqual(result.widths, {"fc1": (300, fc1), "fc2": (100, fc2),
                                     "logits": (10, 10)})
    self.assertEqual(result.model.count_params(),
                     784 * fc1 + fc1 + fc1 * fc2 + fc2 + fc2 * 10 + 10)
    self.assert_same_function(model, result.model, inputs_for(model))

  def test_conv_batchnorm_flatten_dense_in_inference_mode(self):
    model = conv_bn_flatten()
    graph, chosen = testing.channel_ticket(model, seed=3)
    testing.set_moving_statistics(model)
    result = compaction.compact(model, graph)
    conv1 = 8 - sum(1 for g in chosen if g.producers[0][0] == "conv1")
    conv2 = 6 - sum(1 for g in chosen if g.producers[0][0] == "conv2")
    self.assertLess(conv2, 6)
    narrow = result.model
    self.assertEqual(narrow.get_layer("bn1").moving_mean.shape, (conv1,))
    self.assertEqual(narrow.get_layer("conv2").kernel.shape, (3, 3, conv1,
                                                              conv2))
    # Flatten of [5, 5, conv2]: the head reads 25 positions of each channel.
    self.assertEqual(narrow.get_layer("fc").kernel.shape[0], 25 * conv2)
    self.assert_same_function(model, narrow, inputs_for(model))

  def test_resnet20_residual_streams_lose_the_same_channels(self):
    model = models.build(config.ModelConfig(name="resnet_cifar", depth=20),
                         (28, 28, 1), 10)
    graph, chosen = testing.channel_ticket(model, seed=4)
    testing.set_moving_statistics(model)
    result = compaction.compact(model, graph)
    self.assertEqual(set(result.removed), set(chosen))
    widths = {name: after for name, (_, after) in result.widths.items()}
    stream = [widths["conv1"]] + [widths[f"stage1_block{b}_conv2"]
                                  for b in (1, 2, 3)]
    self.assertEqual(len(set(stream)), 1)
    self.assertLess(stream[0], 16)
    self.assertLess(result.model.count_params(), model.count_params() * 0.6)
    self.assert_same_function(model, result.model,
                              inputs_for(model, batch_size=4))

  def test_no_gather_or_slice_is_left_in_the_graph(self):
    model = conv_bn_flatten()
    graph, _ = testing.channel_ticket(model, seed=5)
    narrow = compaction.compact(model, graph).model
    inputs = inputs_for(model)
    self.assertEqual(op_types(narrow, inputs), op_types(model, inputs))
    self.assertEqual([type(l).__name__ for l in narrow.layers],
                     [type(l).__name__ for l in model.layers])

  def test_zero_groups_are_exactly_the_zeroed_ones(self):
    model = conv_bn_flatten()
    graph, chosen = testing.channel_ticket(model, seed=6)
    self.assertEqual(compaction.zero_groups(model, graph), chosen)
    # One non-zero weight, a BatchNorm beta, keeps its group.
    follower = next(g for g in chosen if g.followers)
    name, channel = follower.followers[0]
    weights = model.get_layer(name).get_weights()
    weights[1][channel] = 1e-30
    model.get_layer(name).set_weights(weights)
    self.assertNotIn(follower, compaction.zero_groups(model, graph))
    with self.assertRaisesRegex(ValueError, rf"{name}'s beta\[{channel}\] is "
                                "not zero; the weights are the ground truth"):
      compaction.compact(model, graph, pruned=chosen)

  def test_groups_from_masks_name_the_same_groups(self):
    model = conv_bn_flatten()
    graph, chosen = testing.channel_ticket(model, seed=7)
    masks = {layer.name: (layer.get_weights()[0] != 0).astype(np.float32)
             for layer in model.layers if hasattr(layer, "kernel")}
    from_masks = compaction.groups_from_masks(graph, masks)
    self.assertEqual(from_masks, chosen)
    result = compaction.compact(model, graph, pruned=from_masks[:2])
    self.assertEqual(result.removed, chosen[:2])

  def test_a_layer_keeps_its_last_channel(self):
    model = keras.Sequential([keras.Input((6,)), layers.Dense(5, name="fc1"),
                              layers.Dense(4, activation="relu", name="fc2"),
                              layers.Dense(3, name="logits")])
    graph = channel_groups.find(model)
    fc2 = tuple(g for g in graph.groups if g.producers[0][0] == "fc2")
    testing.zero_channel_groups(model, fc2)
    result = compaction.compact(model, graph)
    self.assertEqual(result.widths["fc2"], (4, 1))
    self.assertEqual(result.kept_zero, fc2[:1])
    self.assert_same_function(model, result.model, inputs_for(model))

  def test_a_channel_read_as_non_zero_stays(self):
    # sigmoid(0) = 0.5: a zero unit still feeds its consumers.
    inputs = keras.Input((6,))
    hidden = layers.Dense(4, activation="sigmoid", name="fc1")(inputs)
    relu = layers.Dense(5, activation="relu", name="fc2")(hidden)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(relu))
    graph = channel_groups.find(model)
    chosen = (graph.groups[0], graph.groups[4])  # fc1's 0, fc2's 0
    testing.zero_channel_groups(model, chosen)
    result = compaction.compact(model, graph)
    self.assertEqual(result.removed, chosen[1:])
    self.assertEqual(result.kept_zero, chosen[:1])
    self.assertEqual(result.widths, {"fc1": (4, 4), "fc2": (5, 4),
                                     "logits": (3, 3)})
    self.assert_same_function(model, result.model, inputs_for(model))

  def test_concatenate_loses_channels_at_their_offsets(self):
    inputs = keras.Input((10,))
    joined = layers.Concatenate(name="cat")(
        [layers.Dense(3, name="d1")(inputs), layers.Dense(4, name="d2")(inputs)])
    hidden = layers.ReLU(name="relu")(joined)
    model = keras.Model(inputs, layers.Dense(2, name="logits")(hidden))
    graph = channel_groups.find(model)
    # d1's channel 1, d2's channel 2.
    testing.zero_channel_groups(model, (graph.groups[1], graph.groups[5]))
    result = compaction.compact(model, graph)
    kernel = model.get_layer("logits").kernel.numpy()
    self.assertAllEqual(result.model.get_layer("logits").kernel,
                        kernel[[0, 2, 3, 4, 6]])
    self.assert_same_function(model, result.model, inputs_for(model))

  @parameterized.named_parameters(
      ("channels", (None, 1, 6), (None, 1, 4)),
      # 1 broadcasts one draw over the channels, None draws one per channel:
      # either fits any width, so the compacted dropout is the same.
      ("one", (None, 1, 1), (None, 1, 1)),
      ("unset", (None, 1, None), (None, 1, None)))
  def test_a_dropout_noise_shape_naming_the_channels_takes_the_new_count(
      self, noise_shape, compacted):
    inputs = keras.Input((5, 6))
    x = layers.Conv1D(6, 3, activation="relu", name="conv")(inputs)
    x = layers.Dropout(0.5, noise_shape=noise_shape, name="drop")(x)
    x = layers.Flatten(name="flatten")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    graph = channel_groups.find(model)
    testing.zero_channel_groups(model, graph.groups[:2])  # conv's 0 and 1
    result = compaction.compact(model, graph)
    self.assertEqual(result.widths["conv"], (6, 4))
    self.assertEqual(tuple(result.model.get_layer("drop").noise_shape),
                     compacted)
    x = inputs_for(model)
    self.assertAllClose(result.model(x, training=False), model(x),
                        atol=1e-5, rtol=0)
    self.assertEqual(result.model(x, training=True).shape, (8, 3))

  @parameterized.named_parameters(("keep_dense", False), ("unfollowed", True))
  def test_a_dropout_after_a_layer_left_dense_keeps_its_channel_count(
      self, unfollowed):
    # fc1 stays 8 wide (named in keep_dense, or read by a LayerNormalization,
    # which channel groups do not follow) while fc2 goes from 6 to 4: each
    # dropout's noise shape is its own input's width.
    inputs = keras.Input((10,))
    x = layers.Dense(8, activation="relu", name="fc1")(inputs)
    if unfollowed:
      x = layers.LayerNormalization(name="norm")(x)
    x = layers.Dropout(0.5, noise_shape=(None, 8), name="drop1")(x)
    x = layers.Dense(6, activation="relu", name="fc2")(x)
    x = layers.Dropout(0.5, noise_shape=(None, 6), name="drop2")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    graph = channel_groups.find(model, () if unfollowed else ("fc1",))
    self.assertEqual({g.producers[0][0] for g in graph.groups}, {"fc2"})
    testing.zero_channel_groups(model, graph.groups[:2])  # fc2's 0 and 1
    result = compaction.compact(model, graph)
    self.assertEqual(result.widths, {"fc1": (8, 8), "fc2": (6, 4),
                                     "logits": (3, 3)})
    self.assertEqual(tuple(result.model.get_layer("drop1").noise_shape),
                     (None, 8))
    self.assertEqual(tuple(result.model.get_layer("drop2").noise_shape),
                     (None, 4))
    x = inputs_for(model)
    self.assertAllClose(result.model(x, training=False), model(x),
                        atol=1e-5, rtol=0)
    self.assertEqual(result.model(x, training=True).shape, (8, 3))

  def test_a_ticket_without_zero_groups_is_the_same_network(self):
    model = conv_bn_flatten()
    result = compaction.compact(model, channel_groups.find(model))
    self.assertEqual(result.removed, ())
    self.assertEqual(result.model.count_params(), model.count_params())
    self.assert_same_function(model, result.model, inputs_for(model))


if __name__ == "__main__":
  tf.test.main()
