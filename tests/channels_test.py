"""Tests of the channel structure: masks of whole channel groups."""

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf import config
from kdticket_tf import models
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import structures
from kdticket_tf.pruning import wrapper
from tests import testing

layers = keras.layers


def _mlp(widths=(6, 4), classes=3, features=5):
  model = keras.Sequential([keras.Input((features,))] + [
      layers.Dense(w, name=f"fc{i + 1}") for i, w in enumerate(widths)] +
                           [layers.Dense(classes, name="logits")])
  return model


def _residual():
  return testing.residual_convnet((6, 6, 2))


def _bound(model, criterion="l1", keep_dense=()):
  """The structure bound to `model`, its kernels and their layer names."""
  wrapped = wrapper.wrap_model(model, keep_dense)
  names = [n for n, _, _ in wrapper.prunable_variables(wrapped)]
  kernels = [w.numpy() for _, w, _ in wrapper.prunable_variables(wrapped)]
  bound = structures.get("channel").bind(model, names, keep_dense, criterion)
  return bound, kernels, names


def _sparsity(masks):
  return masks_lib.sparsity(masks)


class ChannelsTest(tf.test.TestCase):

  def assert_whole_groups(self, bound, masks, names):
    """Every group is wholly kept or wholly pruned; nothing else is pruned."""
    position = {n: i for i, n in enumerate(names)}
    expected = [np.ones(m.shape, bool) for m in masks]
    for group in bound.groups:
      slices = ([(position[n], (Ellipsis, c)) for n, c in group.producers] +
                [(position[n], (Ellipsis, c, slice(None)))
                 for n, c in group.consumers])
      # A group is pruned when its first producer slice is zero.
      first, index = slices[0]
      if not masks[first][index].any():
        for array, where in slices:
          self.assertFalse(masks[array][where].any(), group)
          expected[array][where] = False
      else:
        for array, where in slices[:len(group.producers)]:
          self.assertTrue(masks[array][where].any(), group)
    for mask, want in zip(masks, expected):
      self.assertAllEqual(mask > 0, want)

  def test_the_structure_is_named_and_needs_binding(self):
    self.assertIn("channel", structures.names())
    self.assertEqual(structures.CHANNEL_CRITERIA, ("l1", "refill"))
    with self.assertRaisesRegex(ValueError, "bind it to the model first"):
      structures.get("channel").target_masks([np.ones((2, 2))], 0.5)
    # The other structures need nothing of the model: bind returns them.
    unstructured = structures.get("unstructured")
    self.assertIs(unstructured.bind(_mlp(), ["fc1"]), unstructured)
    self.assertEqual(unstructured.pruned_channels([np.zeros((2, 2))]), {})

  def test_l1_prunes_the_smallest_mean_magnitude_units_first(self):
    model = _mlp()
    bound, kernels, names = _bound(model)
    # fc1 unit 3 and fc2 unit 1 are the smallest; fc2's are larger per
    # weight otherwise, so global ranking takes fc1's units next, in order.
    kernels[0][:] = np.arange(1, 7) * 1.0
    kernels[0][:, 3] = 0.1
    kernels[1][:] = 10.0
    kernels[1][:, 1] = 0.05
    # 66 weights. fc2 unit 1 (6 + 3 weights) goes first, then fc1 unit 3
    # (5 + 4 weights, one of them fc2's, already pruned): 17 weights.
    masks = bound.target_masks(kernels, 17 / 66)
    self.assertEqual(bound.pruned_channels(masks), {"fc1": [3], "fc2": [1]})
    self.assertAllClose(_sparsity(masks), 17 / 66)
    self.assert_whole_groups(bound, masks, names)
    # Nearest the target within one group: fc1 unit 0 would prune 8 more,
    # so 20 stays at 17 and 22 takes it (25).
    self.assertEqual(bound.pruned_channels(bound.target_masks(kernels,
                                                              20 / 66)),
                     {"fc1": [3], "fc2": [1]})
    more = bound.target_masks(kernels, 22 / 66)
    self.assertEqual(bound.pruned_channels(more), {"fc1": [0, 3], "fc2": [1]})
    self.assertAllClose(_sparsity(more), 25 / 66)

  def test_refill_keeps_the_units_an_unstructured_mask_keeps(self):
    model = _mlp(widths=(4,), classes=2, features=4)
    bound, kernels, _ = _bound(model, criterion="refill")
    # Unit 0 has the largest L1 norm but one large weight; units 1-3 have
    # every weight medium. An unstructured mask at 50% keeps units 1-3
    # and only one of unit 0's weights, so refill prunes unit 0 where L1
    # would prune unit 1.
    kernels[0][:] = [[9.0, 2.0, 3.0, 4.0]] * 4
    kernels[0][1:, 0] = 0.01
    kernels[0][:, 1] = 1.5
    masks = bound.target_masks(kernels, 6 / 24)
    self.assertEqual(bound.pruned_channels(masks), {"fc1": [0]})
    l1_bound, _, _ = _bound(model)
    self.assertEqual(
        l1_bound.pruned_channels(l1_bound.target_masks(kernels, 6 / 24)),
        {"fc1": [1]})

  def test_no_layer_is_left_without_a_channel(self):
    bound, kernels, names = _bound(_mlp())
    masks = bound.target_masks(kernels, 0.99)
    pruned = bound.pruned_channels(masks)
    self.assertEqual((len(pruned["fc1"]), len(pruned["fc2"])), (5, 3))
    self.assert_whole_groups(bound, masks, names)
    layerwise = bound.target_masks(kernels, 0.99, scope="layerwise")
    pruned = bound.pruned_channels(layerwise)
    self.assertEqual((len(pruned["fc1"]), len(pruned["fc2"])), (5, 3))
    # The classes are never pruned.
    self.assertTrue(np.all(masks[2].any(axis=0)))

  def test_layerwise_prunes_one_fraction_of_every_unit(self):
    model = _mlp(widths=(8, 8), classes=2, features=8)
    bound, kernels, names = _bound(model)
    masks = bound.target_masks(kernels, 0.5, scope="layerwise")
    pruned = bound.pruned_channels(masks)
    self.assertEqual(len(pruned["fc1"]), len(pruned["fc2"]))
    self.assert_whole_groups(bound, masks, names)
    # 8 x 8, 8 x 8, 8 x 2 kernels: 3 of 8 units pruned in each layer prunes
    # 24 + (64 - 25) + 6 = 69 of 144 weights, nearest half of them.
    self.assertEqual(len(pruned["fc1"]), 3)
    self.assertAllClose(_sparsity(masks), 69 / 144)

  def test_iterative_levels_are_nested_and_prune_the_alive_weights(self):
    for criterion in structures.CHANNEL_CRITERIA:
      with self.subTest(criterion=criterion):
        self._check_iterative_levels(criterion)

  def _check_iterative_levels(self, criterion):
    bound, kernels, names = _bound(_residual(), criterion=criterion)
    level1 = bound.target_masks(kernels, 0.3)
    level2 = bound.iterative_masks(
        [k * m for k, m in zip(kernels, level1)], level1, 0.3)
    for first, second in zip(level1, level2):
      self.assertTrue(np.all(second <= first))
    self.assert_whole_groups(bound, level1, names)
    self.assert_whole_groups(bound, level2, names)
    alive = sum(m.sum() for m in level1)
    # Pruned nearest 30% of the alive weights, within one group (a residual
    # stream's channel holds 18 + 36 + 36 + 6 - 9 = 87 weights).
    removed = alive - sum(m.sum() for m in level2)
    self.assertGreater(removed, 0)
    self.assertNear(removed, 0.3 * alive, 87)

  def test_a_residual_stream_is_pruned_whole_with_its_batchnorm(self):
    bound, kernels, names = _bound(_residual())
    masks = bound.target_masks(kernels, 0.5)
    pruned = bound.pruned_channels(masks)
    self.assertTrue(pruned["c1"])
    self.assertEqual(pruned["c1"], pruned["c2"])
    self.assertEqual(pruned["c1"], pruned["bn1"])
    self.assertEqual(pruned["c1"], pruned["bn2"])
    self.assert_whole_groups(bound, masks, names)
    removed = sum(len(pruned.get(n, [])) for n in ("c1", "c2", "c3"))
    self.assertAllClose(bound.channels_removed(masks), removed / 14)

  def test_random_channels_keep_the_count_of_each_layer(self):
    bound, kernels, names = _bound(_mlp(widths=(10, 8)))
    reference = bound.target_masks(kernels, 0.5)
    drawn = bound.random_masks(reference, masks_lib.ones_like(reference),
                               np.random.default_rng(3))
    want = {n: len(c) for n, c in bound.pruned_channels(reference).items()}
    got = {n: len(c) for n, c in bound.pruned_channels(drawn).items()}
    self.assertEqual(got, want)
    self.assertNotEqual(bound.pruned_channels(drawn),
                        bound.pruned_channels(reference))
    self.assert_whole_groups(bound, drawn, names)
    # Nested: drawn among the channels the previous mask keeps.
    level2 = bound.iterative_masks(kernels, reference, 0.3)
    again = bound.random_masks(level2, reference, np.random.default_rng(4))
    for mask, previous in zip(again, reference):
      self.assertTrue(np.all(mask <= previous))

  def test_keep_dense_and_unwrapped_layers_keep_their_groups_dense(self):
    bound, kernels, names = _bound(_mlp(), keep_dense=("fc1",))
    self.assertEqual(names, ["fc2", "logits"])
    masks = bound.target_masks(kernels, 0.5)
    self.assertEqual(list(bound.pruned_channels(masks)), ["fc2"])

  def test_a_model_whose_only_prunable_layer_is_the_output_is_refused(self):
    model = keras.Sequential([keras.Input((5,)), layers.Dense(3, name="out")])
    with self.assertRaisesRegex(
        ValueError, r"structure='channel' finds no channel to prune in "
        r"model '.*': its only prunable layer, 'out', is the model's output, "
        "whose classes are never pruned; choose another"):
      _bound(model)

  def test_per_layer_fractions_that_empty_a_layer_are_refused(self):
    bound, _, _ = _bound(_mlp(widths=(8, 4)))
    bound.check_rates(3, None)
    bound.check_rates(10, [0.49, 0.49, 0.49])
    with self.assertRaisesRegex(
        ValueError, r"gives 'fc1' the fraction 0.9 per level.*prune all 8 of "
        r"its prunable channels by level 2"):
      bound.check_rates(3, [0.9, 0.2, 0.2])
    # Per-layer fractions are fractions of each unit's channels.
    kernels = [np.ones(s) for s in ((5, 8), (8, 4), (4, 3))]
    masks = bound.iterative_masks(kernels, masks_lib.ones_like(kernels),
                                  [0.5, 0.25, 0.1], scope="layerwise")
    self.assertEqual({n: len(c) for n, c in
                      bound.pruned_channels(masks).items()},
                     {"fc1": 4, "fc2": 1})

  def test_resnet20_masks_at_targets(self):
    model = models.build(config.ModelConfig(name="resnet_cifar", depth=20),
                         (28, 28, 1), 10)
    bound, kernels, names = _bound(model)
    self.assertLen(bound.groups, 448)
    total = sum(k.size for k in kernels)
    # The largest group: a 64-channel residual stream's channel.
    largest = max(
        sum(np.prod(kernels[names.index(n)].shape[:-1])
            for n, _ in g.producers) +
        sum(np.prod(kernels[names.index(n)].shape[:-2]) *
            kernels[names.index(n)].shape[-1] for n, _ in g.consumers)
        for g in bound.groups)
    for scope in ("global", "layerwise"):
      for target in (0.5, 0.8):
        masks = bound.target_masks(kernels, target, scope)
        self.assert_whole_groups(bound, masks, names)
        reached = _sparsity(masks)
        tolerance = largest / total if scope == "global" else 0.01
        self.assertNear(reached, target, tolerance, f"{scope} {target}")
        pruned = bound.pruned_channels(masks)
        for name, width in bound.graph.widths.items():
          self.assertLess(len(pruned.get(name, [])), width, name)
        self.assertNotIn("logits", pruned)
        # A residual stream goes whole: the stem and every block's second
        # conv of stage 1 lose the same channels.
        self.assertEqual(pruned.get("conv1"),
                         pruned.get("stage1_block3_conv2"))
        self.assertGreater(bound.channels_removed(masks), 0.1)


if __name__ == "__main__":
  tf.test.main()
