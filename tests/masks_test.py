"""Tests of magnitude and random masks against hand-computed values."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from kdticket_tf.pruning import masks

# |w| concatenated in model order: 0.1 0.5 0.3 0.0 | 0.2 0.05 0.4 0.3
LAYER1 = np.array([[0.1, -0.5], [0.3, 0.0]], np.float32)
LAYER2 = np.array([0.2, -0.05, 0.4, 0.3], np.float32)


class MasksTest(tf.test.TestCase, parameterized.TestCase):

  def test_global_ranks_all_layers_together(self):
    result = masks.target_masks([LAYER1, LAYER2], 0.5, scope="global")
    # The 4 smallest overall: 0.0, 0.05, 0.1, 0.2.
    self.assertAllEqual(result[0], [[0, 1], [1, 0]])
    self.assertAllEqual(result[1], [0, 0, 1, 1])

  def test_global_breaks_ties_by_model_order(self):
    # 5 of 8 pruned: the fifth is one of the two 0.3 entries; the first (layer 1)
    # goes, the one in layer 2 stays.
    result = masks.target_masks([LAYER1, LAYER2], 5 / 8, scope="global")
    self.assertAllEqual(result[0], [[0, 1], [0, 0]])
    self.assertAllEqual(result[1], [0, 0, 1, 1])

  def test_layerwise_prunes_each_layer_by_the_same_fraction(self):
    uneven = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], np.float32)
    result = masks.target_masks([LAYER1, uneven], 0.5, scope="layerwise")
    self.assertAllEqual(result[0], [[0, 1], [1, 0]])
    self.assertAllEqual(result[1], [0, 0, 0, 0, 1, 1, 1, 1])
    # Global ranking of the same arrays prunes the small layer only.
    global_result = masks.target_masks([LAYER1, uneven], 0.5, scope="global")
    self.assertAllEqual(global_result[0], [[0, 0], [0, 0]])
    self.assertAllEqual(global_result[1], [0, 0, 1, 1, 1, 1, 1, 1])

  def test_iterative_only_prunes_alive_weights(self):
    previous = [np.array([[1, 0], [1, 1]], np.float32), np.ones(4, np.float32)]
    # 7 alive; round(0.5 * 7) = 4 more pruned: 0.0, 0.05, 0.1, 0.2. The large
    # 0.5 weight was already pruned and stays pruned.
    result = masks.iterative_masks([LAYER1, LAYER2], previous, 0.5)
    self.assertAllEqual(result[0], [[0, 0], [1, 0]])
    self.assertAllEqual(result[1], [0, 0, 1, 1])
    self.assertEqual(sum(int(m.sum()) for m in result), 3)

  def test_iterative_sparsity_compounds(self):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(300, 100)), rng.normal(size=(100, 10))]
    current = masks.ones_like(weights)
    alive = 31000
    for level in range(1, 9):
      new = masks.iterative_masks(weights, current, 0.2, scope="global")
      for old_mask, new_mask in zip(current, new):
        self.assertTrue(np.all(new_mask <= old_mask))  # nested
      alive -= int(np.floor(0.2 * alive + 0.5))
      self.assertEqual(sum(int(m.sum()) for m in new), alive)
      self.assertNear(masks.sparsity(new), 1 - 0.8**level, 5e-4)
      current = new

  def test_layerwise_iterative_keeps_every_layer_at_the_same_sparsity(self):
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(50, 20)), rng.normal(size=(20, 10))]
    current = masks.ones_like(weights)
    for _ in range(3):
      current = masks.iterative_masks(weights, current, 0.2, scope="layerwise")
    self.assertAllClose(masks.layer_sparsities(current), [0.488, 0.49])

  def test_layerwise_fractions_prune_each_layer_at_its_own_rate(self):
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(10, 10)), rng.normal(size=(10, 4))]
    level1 = masks.iterative_masks(weights, masks.ones_like(weights),
                                   [0.2, 0.1], "layerwise")
    self.assertEqual([int(m.sum()) for m in level1], [80, 36])
    level2 = masks.iterative_masks(weights, level1, [0.2, 0.1], "layerwise")
    self.assertEqual([int(m.sum()) for m in level2], [64, 32])  # 36 - 3.6 -> 4
    with self.assertRaisesRegex(ValueError, "one fraction per array"):
      masks.iterative_masks(weights, level1, [0.2, 0.1], "global")

  def test_random_masks_copy_per_layer_counts_and_stay_nested(self):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(40, 10)), rng.normal(size=(10, 5))]
    previous = masks.target_masks(weights, 0.3)
    reference = masks.iterative_masks(weights, previous, 0.5)
    result = masks.random_masks(reference, previous, np.random.default_rng(7))
    for ref, new, old in zip(reference, result, previous):
      self.assertEqual(int(new.sum()), int(ref.sum()))
      self.assertTrue(np.all(new <= old))
    self.assertFalse(all(np.array_equal(a, b) for a, b in zip(reference, result)))

  def test_mismatched_shapes_raise(self):
    with self.assertRaisesRegex(ValueError, "shape"):
      masks.iterative_masks([LAYER1], [np.ones(3)], 0.2)

  @parameterized.parameters(0.0, 1.0, -0.1)
  def test_fraction_outside_open_interval_raises(self, fraction):
    with self.assertRaisesRegex(ValueError, "between 0 and 1"):
      masks.iterative_masks([LAYER1], masks.ones_like([LAYER1]), fraction)


if __name__ == "__main__":
  tf.test.main()
