"""A structured search end to end: block masks through IMP, KD and checkpoints."""

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from kdticket_tf.search import lottery
from kdticket_tf.report import results
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.pruning import structures
from tests import testing


class StructuredTicketsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = os.path.join(tf.compat.v1.test.get_temp_dir(), "structured")
    base = testing.tiny_config(("lt", "kd", "random_prune"), levels=2)
    cls.config = dataclasses.replace(base, pruning=dataclasses.replace(
        base.pruning, structure="1x4", scope="layerwise", fraction=0.5,
        keep_dense=("logits",)))
    # Each checkpoint the training writes, read as it is written (a stage
    # removes its checkpoints once it is done): its path and arrays.
    cls.checkpoints = []
    with testing.recording_checkpoints(cls.checkpoints):
      lottery.Lottery(testing.model_fn, testing.tiny_data(), cls.config,
                      cls.workdir).run()
    cls.structure = structures.get("1x4")

  def _arrays(self, recipe, level, name):
    path = testing.stage_file(self.workdir, recipe, level, name)
    if name == "masks.npz":
      return weights_lib.load_arrays(path)
    # fc1 and fc2 kernels (logits is left dense).
    return testing.prunable_arrays(path)[:2]

  def test_masks_are_block_aligned_nested_and_at_their_sparsity(self):
    for recipe in ("lt", "kd", "random_prune"):
      previous = None
      for level in (1, 2):
        masks = self._arrays(recipe, level, "masks.npz")
        self.assertLen(masks, 2)
        for index, mask in enumerate(masks):
          self.assertTrue(self.structure.is_aligned(mask), (recipe, level))
          # Layer-wise: half of the alive blocks per level (inputs 12 and 32
          # are multiples of 4, so whole blocks hit it exactly).
          self.assertAllClose(1 - mask.mean(), 1 - 0.5 ** level)
          if previous is not None and recipe != "random_prune":
            self.assertTrue(np.all(mask <= previous[index]))
        previous = masks

  def test_random_prune_keeps_the_block_count_of_its_source(self):
    for level in (1, 2):
      source = self._arrays("lt", level, "masks.npz")
      drawn = self._arrays("random_prune", level, "masks.npz")
      for ref, mask in zip(source, drawn):
        ids, count = structures.group_ids(mask.shape, 4)
        blocks = lambda m, ids=ids, count=count: np.count_nonzero(
            np.bincount(ids.ravel(), m.ravel(), count))
        self.assertEqual(blocks(mask), blocks(ref))
        self.assertFalse(np.array_equal(mask, ref))

  def _checkpoint_kernels(self, arrays):
    """The pruned layers' (kernel, mask) of a checkpoint, in model order.

    The student of a `Distiller` is `model/student/...`; its teacher's
    (dense) layers are left out.
    """
    found = {}
    for key, value in arrays.items():
      match = re.match(r"model/(student/)?layer_with_weights-(\d+)/"
                       r"(layer/kernel|mask)/", key)
      if match:
        found.setdefault(int(match.group(2)), {})[match.group(3)] = value
    return [(found[i]["layer/kernel"], found[i]["mask"])
            for i in sorted(found) if "mask" in found[i]]

  def test_pruned_weights_are_exact_zeros_in_every_checkpoint(self):
    epochs = self.config.train.duration.value
    for recipe in ("lt", "kd", "random_prune"):
      for level in (1, 2):
        masks = self._arrays(recipe, level, "masks.npz")
        stage = testing.stage_file(self.workdir, recipe, level, "")
        written = [(path, arrays) for path, arrays in self.checkpoints
                   if path.startswith(os.path.join(stage, "checkpoints"))]
        # One checkpoint per epoch, each read while the stage trained; the
        # finished stage has removed them.
        self.assertLen(written, epochs, (recipe, level))
        self.assertFalse(os.path.exists(os.path.join(stage, "checkpoints")))
        for path, arrays in written:
          kernels = self._checkpoint_kernels(arrays)
          self.assertLen(kernels, 2, path)  # fc1 and fc2
          for (kernel, mask_variable), mask in zip(kernels, masks):
            self.assertAllEqual(mask_variable, mask)
            self.assertTrue(np.all(kernel[mask == 0] == 0.0), path)
            self.assertGreater(np.count_nonzero(kernel[mask == 1]),
                               0.9 * mask.sum())
        for mask, kernel in zip(masks, self._arrays(recipe, level,
                                                    "final.weights.npz")):
          self.assertTrue(np.all(kernel[mask == 0] == 0.0))
          self.assertGreater(np.count_nonzero(kernel[mask == 1]),
                             0.9 * mask.sum())

  def test_rows_record_the_structure(self):
    rows = results.read(self.workdir)
    self.assertEqual({r["structure"] for r in rows if r["level"]}, {"1x4"})


if __name__ == "__main__":
  tf.test.main()
