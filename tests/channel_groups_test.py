"""Tests of the coupled channel groups, each against a hand-written expectation."""

import tensorflow as tf
import tf_keras as keras

from kdticket_tf import config
from kdticket_tf import models
from kdticket_tf.pruning import channel_groups
from kdticket_tf.pruning import wrapper
from tests import testing

Group = channel_groups.ChannelGroup
layers = keras.layers


def _residual():
  return testing.residual_convnet((8, 8, 3))


class ChannelGroupsTest(tf.test.TestCase):

  def test_conv_batchnorm_and_a_residual_add(self):
    graph = channel_groups.find(_residual())
    joined = [Group(producers=(("c1", k), ("c2", k)),
                    followers=(("bn1", k), ("bn2", k)),
                    consumers=(("c2", k), ("c3", k))) for k in range(4)]
    c3 = [Group(producers=(("c3", k),), consumers=(("logits", k),))
          for k in range(6)]
    self.assertEqual(list(graph.groups), joined + c3)
    self.assertEqual(graph.widths, {"c1": 4, "c2": 4, "c3": 6, "logits": 3})
    self.assertEqual(graph.unfollowed, ())

  def test_concatenate_maps_channels_by_offset(self):
    inputs = keras.Input((10,))
    joined = layers.Concatenate(name="cat")(
        [layers.Dense(3, name="d1")(inputs), layers.Dense(2, name="d2")(inputs)])
    model = keras.Model(inputs, layers.Dense(4, name="logits")(joined))
    expected = ([Group(producers=(("d1", k),), consumers=(("logits", k),))
                 for k in range(3)] +
                [Group(producers=(("d2", k),), consumers=(("logits", 3 + k),))
                 for k in range(2)])
    self.assertEqual(list(channel_groups.find(model).groups), expected)

  def test_flatten_maps_a_channel_to_its_spatial_positions(self):
    inputs = keras.Input((4, 4, 1))
    conv = layers.Conv2D(2, 3, name="conv")(inputs)  # 2 x 2 positions
    hidden = layers.Dense(5, name="fc")(layers.Flatten(name="flat")(conv))
    model = keras.Model(inputs, layers.Dense(3, name="logits")(hidden))
    # Flatten of [2, 2, 2]: index (row * 2 + column) * 2 + channel.
    expected = ([Group(producers=(("conv", 0),),
                       consumers=(("fc", 0), ("fc", 2), ("fc", 4), ("fc", 6))),
                 Group(producers=(("conv", 1),),
                       consumers=(("fc", 1), ("fc", 3), ("fc", 5), ("fc", 7)))]
                + [Group(producers=(("fc", k),), consumers=(("logits", k),))
                   for k in range(5)])
    self.assertEqual(list(channel_groups.find(model).groups), expected)

  def test_flatten_positions_are_the_ones_keras_reads(self):
    # Zeroing a conv channel zeroes exactly the Flatten outputs listed.
    inputs = keras.Input((4, 4, 1))
    conv = layers.Conv2D(2, 3, name="conv")(inputs)
    flat = layers.Flatten(name="flat")(conv)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(flat))
    [group, _] = channel_groups.find(model).groups
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 0], bias[0] = 0.0, 0.0
    model.get_layer("conv").set_weights([kernel, bias])
    features = keras.Model(inputs, flat)(tf.random.normal((2, 4, 4, 1)))
    zero = [j for j in range(8) if not tf.reduce_any(features[:, j] != 0)]
    self.assertEqual(zero, [index for _, index in group.consumers])

  def test_an_unfollowed_layer_keeps_its_producers_channels_dense(self):
    inputs = keras.Input((6,))
    hidden = layers.Dense(4, name="d1")(inputs)
    shaped = layers.Reshape((2, 2), name="reshape")(hidden)
    flat = layers.Flatten(name="flat")(shaped)
    lam = layers.Lambda(lambda x: x * 2.0, name="double")(
        layers.Dense(3, name="d2")(flat))
    model = keras.Model(inputs, layers.Dense(2, name="logits")(lam))
    graph = channel_groups.find(model)
    self.assertEqual(graph.groups, ())
    self.assertEqual(graph.unfollowed, ("reshape", "double"))
    self.assertIn("stay dense (the grouping cannot follow them): reshape, "
                  "double", channel_groups.describe(graph)[-1])

  def test_keep_dense_and_the_output_layer_stay_dense(self):
    model = keras.Sequential([
        keras.Input((8,)), layers.Dense(5, name="fc1"),
        layers.Dense(4, name="fc2"), layers.Dense(3, name="logits")])
    graph = channel_groups.find(model)
    self.assertEqual([g.producers[0][0] for g in graph.groups],
                     ["fc1"] * 5 + ["fc2"] * 4)
    # A group touching a kept layer stays dense: fc1's channels are fc2's
    # inputs, so keeping fc2 dense keeps them too.
    self.assertEqual(channel_groups.find(model, keep_dense=("fc2",)).groups,
                     ())
    kept = channel_groups.find(model, keep_dense=("fc1",))
    self.assertEqual(list(kept.groups),
                     [Group(producers=(("fc2", k),), consumers=(("logits", k),))
                      for k in range(4)])

  def test_a_join_with_an_input_keeps_the_channels_dense(self):
    inputs = keras.Input((4,))
    joined = layers.Add(name="add")([layers.Dense(4, name="d1")(inputs),
                                     inputs])
    model = keras.Model(inputs, layers.Dense(2, name="logits")(joined))
    self.assertEqual(channel_groups.find(model).groups, ())


  def test_a_wrapped_clone_sharing_the_layers_changes_no_group(self):
    # Wrapping for pruning calls the unwrapped layers (BatchNormalization,
    # Add, ReLU) again in the clone; only the model's own calls count.
    model = _residual()
    before = channel_groups.find(model)
    wrapper.wrap_model(model)
    self.assertGreater(len(model.get_layer("bn1").inbound_nodes), 1)
    self.assertEqual(channel_groups.find(model), before)

  def test_resnet20_residual_streams_are_one_group_per_channel(self):
    model = models.build(config.ModelConfig(name="resnet_cifar", depth=20),
                         (28, 28, 1), 10)
    graph = channel_groups.find(model)
    # Each stage's residual stream (its first conv or shortcut and every
    # block's second conv) is one group per channel; each block's inner
    # conv is a group of its own: 16 * 4 + 32 * 4 + 64 * 4 groups.
    self.assertLen(graph.groups, 448)
    stream = {g.producers: g for g in graph.groups if len(g.producers) > 1}
    self.assertLen(stream, 16 + 32 + 64)
    first = (("conv1", 5),) + tuple(
        (f"stage1_block{b}_conv2", 5) for b in (1, 2, 3))
    self.assertIn(first, stream)
    self.assertEqual(graph.unfollowed, ())


if __name__ == "__main__":
  tf.test.main()
