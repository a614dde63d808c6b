"""tools/kd_crosscheck.py: a minimal TensorFlow loop retrains the kd ticket.

A tiny search (LeNet-300-100 on the registered synthetic data, kd at one
level) is retrained by the tool's `GradientTape` loop; the loop's weights
must be the recipe's (same θ0, mask, teacher, batches and schedule), and its
figures the rows'.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import tensorflow as tf

from kdticket_tf import api
from kdticket_tf import config
from kdticket_tf.report import results
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from tests import testing


def _tool(*args):
  return subprocess.run(
      [sys.executable, os.path.join(testing.ROOT, "tools", "kd_crosscheck.py"),
       *args], cwd=testing.ROOT, capture_output=True, text=True, check=False,
      timeout=300, env=dict(os.environ, PYTHONPATH=testing.ROOT))


class KdCrosscheckTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = os.path.join(tf.compat.v1.test.get_temp_dir(), "crosscheck")
    # Adam, a cosine schedule and weight decay: what the loop computes by
    # hand. 8 steps per epoch, 2 epochs; kd at 50% pruned.
    base = testing.synthetic_config(("kd",), levels=1, optimizer="adam",
                                    learning_rate=1e-3, lr_schedule="cosine",
                                    weight_decay=1e-4)
    cfg = dataclasses.replace(base, distill=config.DistillConfig(
        alpha=0.7, temperature=3.0))
    api.prepare(cfg, cls.workdir).run()
    cls.rows = results.read(cls.workdir)

  def test_the_loop_reaches_the_recipes_weights_and_figures(self):
    figures_path = os.path.join(self.get_temp_dir(), "figures.json")
    weights_path = os.path.join(self.get_temp_dir(), "loop.npz")
    result = _tool(f"--workdir={self.workdir}", "--level=1", "--recipe=kd",
                   f"--json_out={figures_path}",
                   f"--weights_out={weights_path}")
    self.assertEqual(result.returncode, 0, result.stderr)
    with open(figures_path, encoding="utf-8") as stream:
      figures = json.load(stream)
    dense, kd = self.rows[0], self.rows[1]
    self.assertEqual((dense["recipe"], kd["recipe"]), ("dense", "kd"))
    self.assertEqual(figures["sparsity"], kd["sparsity"])
    self.assertNear(kd["sparsity"], 0.5, 0.01)
    self.assertEqual(figures["recipe_test_accuracy"], kd["test_accuracy"])
    # The teacher is the dense run's θT: its test accuracy is the dense row's.
    self.assertNear(figures["teacher_test_accuracy"], dense["test_accuracy"],
                    1e-6)
    self.assertBetween(figures["teacher_train_accuracy"], 0.0, 1.0)
    self.assertIn("difference (loop - recipe)", result.stdout)
    # Same start, mask, teacher, batches and schedule: the same weights, up to
    # float rounding over 16 steps; the pruned ones exactly zero in both.
    layout = layout_lib.Layout(self.workdir)
    key = layout_lib.StageKey("kd", 1)
    recipe = weights_lib.load_arrays(layout.final_weights(key))
    initial = weights_lib.load_arrays(layout.init_weights)
    with np.load(weights_path) as archive:
      loop = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    self.assertLen(loop, len(recipe))
    for mine, theirs, start in zip(loop, recipe, initial):
      # (2e-7 apart here, after moving up to 0.05 from θ0.)
      self.assertAllClose(mine, theirs, rtol=1e-4, atol=1e-5)
      self.assertAllEqual(mine == 0, theirs == 0)
      self.assertFalse(np.allclose(theirs, start, atol=1e-5))  # trained
    self.assertNear(figures["loop_test_accuracy"],
                    figures["recipe_test_accuracy"], 0.02)

  def test_a_missing_stage_fails_in_one_sentence(self):
    result = _tool(f"--workdir={self.workdir}", "--level=2", "--recipe=kd")
    self.assertEqual(result.returncode, 1)
    self.assertIn("kd_crosscheck: error:", result.stderr)
    self.assertIn(os.path.join("kd", "level_02"), result.stderr)
    self.assertNotIn("Traceback", result.stderr)

  def test_settings_the_loop_does_not_write_out_are_refused(self):
    copy = os.path.join(self.get_temp_dir(), "clipped")
    shutil.copytree(self.workdir, copy)
    path = os.path.join(copy, "config.json")
    with open(path, encoding="utf-8") as stream:
      recorded = json.load(stream)
    recorded["train"]["clip_norm"] = 1.0
    with open(path, "w", encoding="utf-8") as stream:
      json.dump(recorded, stream)
    result = _tool(f"--workdir={copy}", "--level=1", "--recipe=kd")
    self.assertEqual(result.returncode, 1)
    self.assertIn("kd_crosscheck: error: clip_norm=1.0 is not reproduced",
                  result.stderr)


if __name__ == "__main__":
  tf.test.main()
