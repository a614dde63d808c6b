"""Tests of the accuracy-against-sparsity plot."""

import os
import struct

import tensorflow as tf

from kdticket_tf.report import plots


def _rows(offset=0.0):
  rows = [{"recipe": "dense", "level": 0, "weights_remaining": 1.0,
           "sparsity": 0.0, "test_accuracy": 0.9 + offset, "status": "done"}]
  for recipe, shift in (("lt", 0.0), ("kd", 0.01)):
    for level in range(1, 6):
      rows.append({"recipe": recipe, "level": level,
                   "weights_remaining": 0.8**level, "sparsity": 1 - 0.8**level,
                   "test_accuracy": 0.9 - 0.01 * level + shift + offset,
                   "status": "done"})
  return rows


def _png_size(path):
  with open(path, "rb") as stream:
    header = stream.read(24)
  assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
  assert header[12:16] == b"IHDR"
  return struct.unpack(">II", header[16:24])


class PlotsTest(tf.test.TestCase):

  def test_two_recipe_plot_is_a_valid_png_of_sensible_size(self):
    path = os.path.join(self.get_temp_dir(), "plot.png")
    plots.plot_accuracy_vs_sparsity([("", _rows())], path)
    width, height = _png_size(path)
    self.assertBetween(width, 600, 2000)
    self.assertBetween(height, 400, 1500)
    self.assertGreater(os.path.getsize(path), 10_000)

  def test_several_seeds_are_averaged(self):
    series, dense = plots.series(
        [("", _rows()), ("", _rows(0.02))])
    self.assertEqual(sorted(series), ["kd", "lt"])
    self.assertLen(series["lt"][3], 2)
    self.assertLen(dense, 2)
    path = os.path.join(self.get_temp_dir(), "seeds.png")
    plots.plot_accuracy_vs_sparsity([("", _rows()), ("", _rows(0.02))], path)
    self.assertEqual(_png_size(path), (800, 500))

  def test_failed_levels_are_left_out(self):
    rows = _rows() + [{"recipe": "lt", "level": 6, "status": "failed",
                       "test_accuracy": None, "weights_remaining": None}]
    series, _ = plots.series([("", rows)])
    self.assertNotIn(6, series["lt"])


if __name__ == "__main__":
  tf.test.main()
