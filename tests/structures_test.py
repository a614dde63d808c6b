"""Tests of sparsity structures: block-aligned, 2:4 and random block masks."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from kdticket_tf import config as config_lib
from kdticket_tf.config import pruning as pruning_config
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.pruning import structures


def _weights(seed=0, shapes=((20, 6), (3, 3, 10, 4), (12, 5))):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=shape).astype(np.float32) for shape in shapes]


def _blocks_of(mask, block):
  """Per (row, block) keep counts and sizes, computed by hand."""
  moved = np.moveaxis(np.asarray(mask), -2, -1)  # [..., out, in]
  rows = moved.reshape(-1, moved.shape[-1])
  counts, sizes = [], []
  for row in rows:
    for start in range(0, row.size, block):
      counts.append(int(row[start:start + block].sum()))
      sizes.append(row[start:start + block].size)
  return np.array(counts), np.array(sizes)


class StructuresTest(tf.test.TestCase, parameterized.TestCase):

  def test_the_config_accepts_exactly_the_structures(self):
    for name in structures.names():
      self.assertEqual(pruning_config.PruningConfig(
          structure=name, schedule="oneshot",
          target_sparsities=(0.5,)).structure, name)
    with self.assertRaisesRegex(
        ValueError, r"PruningConfig.structure='3:4'.*'unstructured', '1x4', "
        r"'1x16', '2:4'"):
      pruning_config.PruningConfig(structure="3:4")
    self.assertEqual(structures.get("2:4").fixed_sparsity, 0.5)

  def test_unknown_name_is_refused(self):
    with self.assertRaisesRegex(ValueError, "'3x3' is not supported"):
      structures.get("3x3")

  def test_dense_blocks_run_down_the_input_axis(self):
    ids, count = structures.group_ids((8, 2), 4)
    self.assertEqual(count, 4)
    self.assertAllEqual(ids[:, 0], [0, 0, 0, 0, 1, 1, 1, 1])
    self.assertAllEqual(ids[:, 1], [2, 2, 2, 2, 3, 3, 3, 3])

  def test_conv_blocks_run_along_input_channels(self):
    ids, count = structures.group_ids((2, 1, 8, 3), 4)
    self.assertEqual(count, 2 * 3 * 2)
    for h in range(2):
      for out in range(3):
        column = ids[h, 0, :, out]
        self.assertLen(set(column[:4]), 1)
        self.assertLen(set(column[4:]), 1)
        self.assertNotEqual(column[0], column[4])

  def test_a_short_last_block_is_padded(self):
    ids, count = structures.group_ids((6, 1), 4)
    self.assertEqual(count, 2)
    self.assertAllEqual(ids[:, 0], [0, 0, 0, 0, 1, 1])

  @parameterized.product(name=["1x4", "1x16"], scope=["global", "layerwise"],
                         sparsity=[0.5, 0.8, 0.95])
  def test_target_masks_are_block_aligned_at_the_nominal_sparsity(
      self, name, scope, sparsity):
    structure = structures.get(name)
    weights = _weights(shapes=((64, 8), (3, 3, 32, 4), (48, 5)))
    masks = structure.target_masks(weights, sparsity, scope)
    for mask in masks:
      counts, sizes = _blocks_of(mask, structure.block)
      self.assertTrue(np.all((counts == 0) | (counts == sizes)))
      self.assertTrue(structure.is_aligned(mask))
    # Every input size here is a multiple of the block: whole blocks reach the
    # nominal count within half a block.
    groups = [masks] if scope == "global" else [[m] for m in masks]
    for group in groups:
      total = sum(m.size for m in group)
      pruned = total - sum(int(m.sum()) for m in group)
      self.assertLessEqual(abs(pruned - sparsity * total),
                           structure.block / 2 + 0.5)

  def test_blocks_are_ranked_by_mean_magnitude(self):
    weight = np.array([[1.0], [1.0], [1.0], [1.0],  # mean 1.0
                       [0.0], [0.0], [0.0], [3.9],  # mean 0.975: pruned
                       [2.0], [2.0], [2.0], [2.0]], np.float32)
    mask, = structures.get("1x4").target_masks([weight], 1 / 3)
    self.assertAllEqual(mask[:, 0], [1] * 4 + [0] * 4 + [1] * 4)

  def test_padded_block_magnitude_is_the_mean_of_its_real_weights(self):
    # Rows of 6: blocks [0:4] (mean 1.0) and [4:6] (mean 0.9, padded).
    weight = np.array([[1.0], [1.0], [1.0], [1.0], [0.9], [0.9]], np.float32)
    mask, = structures.get("1x4").target_masks([weight], 0.3)
    self.assertAllEqual(mask[:, 0], [1, 1, 1, 1, 0, 0])

  def test_unstructured_is_the_masks_module(self):
    weights = _weights()
    structure = structures.get("unstructured")
    for got, want in zip(structure.target_masks(weights, 0.7),
                         masks_lib.target_masks(weights, 0.7)):
      self.assertAllEqual(got, want)
    previous = masks_lib.target_masks(weights, 0.5, "layerwise")
    for got, want in zip(
        structure.iterative_masks(weights, previous, 0.2, "layerwise"),
        masks_lib.iterative_masks(weights, previous, 0.2, "layerwise")):
      self.assertAllEqual(got, want)

  def test_two_of_four_keeps_exactly_two_in_every_four(self):
    weights = _weights(shapes=((16, 6), (3, 3, 8, 4), (10, 3)))
    masks = structures.get("2:4").target_masks(weights, 0.5)
    for weight, mask in zip(weights, masks):
      counts, sizes = _blocks_of(mask, 4)
      self.assertAllEqual(counts, np.minimum(sizes, 2))
      # The kept two are the largest |w| of their group.
      moved_w = np.moveaxis(np.abs(weight), -2, -1).reshape(-1, weight.shape[-2])
      moved_m = np.moveaxis(mask, -2, -1).reshape(-1, weight.shape[-2])
      for row_w, row_m in zip(moved_w, moved_m):
        for start in range(0, row_w.size, 4):
          group_w, group_m = row_w[start:start + 4], row_m[start:start + 4]
          if group_w.size > 2:
            self.assertGreaterEqual(group_w[group_m > 0].min(),
                                    group_w[group_m == 0].max())
    self.assertAlmostEqual(masks_lib.sparsity(masks[:2]), 0.5)

  def test_two_of_four_refuses_another_sparsity(self):
    with self.assertRaisesRegex(ValueError, "exactly 50%"):
      structures.get("2:4").target_masks(_weights(), 0.8)

  def test_iterative_blocks_stay_nested_and_aligned(self):
    structure = structures.get("1x4")
    weights = _weights(shapes=((32, 8), (16, 4)))
    masks = masks_lib.ones_like(weights)
    for level in range(1, 4):
      new = structure.iterative_masks(_weights(level, ((32, 8), (16, 4))),
                                      masks, 0.5)
      for old, mask in zip(masks, new):
        self.assertTrue(np.all(mask <= old))
        self.assertTrue(structure.is_aligned(mask))
      masks = new
    self.assertAllClose(masks_lib.sparsity(masks), 1 - 0.5 ** 3, atol=0.02)

  def test_partly_kept_block_is_refused(self):
    structure = structures.get("1x4")
    mask = np.ones((8, 1), np.float32)
    mask[1] = 0.0
    self.assertFalse(structure.is_aligned(mask))
    with self.assertRaisesRegex(ValueError, "not aligned to 1x4"):
      structure.iterative_masks([np.ones((8, 1))], [mask], 0.5)

  @parameterized.parameters("1x4", "1x16")
  def test_random_masks_keep_the_block_count_of_each_layer(self, name):
    structure = structures.get(name)
    weights = _weights(shapes=((64, 8), (3, 3, 32, 4), (40, 5)))
    reference = structure.target_masks(weights, 0.8)
    drawn = structure.random_masks(reference, masks_lib.ones_like(weights),
                                   np.random.default_rng(3))
    for ref, mask in zip(reference, drawn):
      self.assertTrue(structure.is_aligned(mask))
      ids, count = structures.group_ids(mask.shape, structure.block)
      kept = lambda m, ids=ids, count=count: np.count_nonzero(
          np.bincount(ids.ravel(), m.ravel(), count))
      self.assertEqual(kept(mask), kept(ref))
      self.assertFalse(np.array_equal(mask, ref))

  def test_random_two_of_four_is_two_of_four(self):
    structure = structures.get("2:4")
    weights = _weights(shapes=((16, 6),))
    drawn, = structure.random_masks(structure.target_masks(weights, 0.5),
                                    masks_lib.ones_like(weights),
                                    np.random.default_rng(0))
    self.assertTrue(structure.is_aligned(drawn))

  def test_config_refuses_two_of_four_at_other_levels(self):
    with self.assertRaisesRegex(ValueError,
                                r"structure='2:4' prunes exactly 50%.*levels"):
      config_lib.PruningConfig(structure="2:4", schedule="oneshot",
                               target_sparsities=(0.5, 0.8))
    with self.assertRaisesRegex(ValueError, "structure='2:4'"):
      config_lib.PruningConfig(structure="2:4", levels=1, fraction=0.2)
    config_lib.PruningConfig(structure="2:4", schedule="oneshot",
                             target_sparsities=(0.5,))
    config_lib.PruningConfig(structure="2:4", levels=1, fraction=0.5)
    config_lib.PruningConfig(structure="2:4", levels=0)
    with self.assertRaisesRegex(ValueError, "structure='4x4' is not supported"):
      config_lib.PruningConfig(structure="4x4")


if __name__ == "__main__":
  tf.test.main()
