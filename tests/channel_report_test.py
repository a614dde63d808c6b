"""docs/channel_tickets.md (study E) is what its committed rows give."""

import glob
import json
import os
import shutil

import tensorflow as tf

import kdticket_tf

from tests import testing

ROWS = os.path.join(testing.ROOT, "docs", "channel_tickets")
ARMS = {"lenet": ("l1", "refill"), "conv": ("l1", "refill", "layerwise")}


def _tool(*args):
  return testing.run_tool("channel_report.py", *args)


class ChannelReportTest(testing.ReportDocChecks, tf.test.TestCase):
  TOOL, DOC, TABLE = ("channel_report.py",
                      os.path.join("docs", "channel_tickets.md"),
                      "conv_accuracy")

  def test_missing_rows_are_named(self):
    result = _tool("--check", f"--rows={self.get_temp_dir()}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("lenet_l1/seed_*.json", result.stderr)

  def test_an_arm_only_one_setup_has_is_needed_there_only(self):
    rows = os.path.join(self.get_temp_dir(), "rows")
    shutil.copytree(ROWS, rows)
    shutil.rmtree(os.path.join(rows, "conv_layerwise"))
    result = _tool("--check", f"--rows={rows}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("conv_layerwise/seed_*.json", result.stderr)
    self.assertIn("conv_layerwise/widths_seed_*.json", result.stderr)
    self.assertNotIn("lenet_layerwise", result.stderr)  # lenet has no such arm

  def test_a_profile_whose_models_are_swapped_is_refused(self):
    # The kernel-by-kernel profile with the dense model and the compacted
    # ticket in each other's place: its ratios turn to 1.6x, and --check
    # names the models instead of checking the prose against them.
    rows = os.path.join(self.get_temp_dir(), "swapped")
    shutil.copytree(ROWS, rows)
    path = os.path.join(rows, "session_profile_resnet20_layers.json")
    with open(path, encoding="utf-8") as stream:
      profile = json.load(stream)
    profile["models"].reverse()
    with open(path, "w", encoding="utf-8") as stream:
      json.dump(profile, stream)
    result = _tool("--check", f"--rows={rows}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("the profile's models are", result.stderr)

  def test_the_layerwise_rows_are_the_layerwise_arms(self):
    # The 90% cells of `lt (layerwise)` and `lt: layerwise − L1`, computed
    # here from the arms' rows, seed by seed.
    def at_90(arm):
      found = {}
      for path in glob.glob(os.path.join(ROWS, f"conv_{arm}", "seed_*.json")):
        with open(path, encoding="utf-8") as stream:
          found[os.path.basename(path)] = next(
              row["test_accuracy"] for row in json.load(stream)
              if row["recipe"] == "lt" and row["level"] == 3)
      return found
    layerwise, l1 = at_90("layerwise"), at_90("l1")
    self.assertLen(layerwise, 3)
    with open(os.path.join(testing.ROOT, "docs", "channel_tickets.md"),
              encoding="utf-8") as stream:
      text = stream.read()
    units, filters = text.split("## Filters: the MNIST-1D ConvNet")

    def last_cells(label):
      return [line.rsplit(" | ", 1)[1].rstrip(" |")
              for line in filters.splitlines()
              if line.startswith(f"| {label} |")]

    mean_std = kdticket_tf.results.mean_std
    # Its rows in the accuracy, selected-on-validation and collapse tables.
    accuracy, _, collapsed = last_cells("lt (layerwise)")
    self.assertEqual(accuracy, mean_std(list(layerwise.values())))
    self.assertEqual(collapsed, f"{sum(v < 0.2 for v in layerwise.values())}"
                     " of 3")
    self.assertEqual(last_cells("lt: layerwise − L1"), [mean_std(
        [layerwise[seed] - l1[seed] for seed in sorted(l1)], signed=True)])
    self.assertNotIn("(layerwise)", units)

  def test_every_committed_row_is_a_study_e_run(self):
    for setup, arms in ARMS.items():
      for arm in arms:
        folder = os.path.join(ROWS, f"{setup}_{arm}")
        for name in sorted(os.listdir(folder)):
          if not name.startswith("seed_"):
            continue
          with open(os.path.join(folder, name), encoding="utf-8") as stream:
            rows = json.load(stream)
          levels = {row["level"] for row in rows}
          self.assertEqual(levels, {0, 1, 2, 3}, (setup, arm, name))
          for row in rows:
            if row["level"]:
              self.assertEqual(row["structure"], "channel", (arm, name))
              self.assertGreater(row["channels_removed"], 0.0)
              self.assertLess(row["flops_remaining"], 1.0)

  def test_widths_are_read_from_a_workdirs_masks(self):
    # Two levels of a two-layer mask: 3 of 4 and 1 of 4 output channels kept.
    import numpy as np  # pylint: disable=g-import-not-at-top
    workdir = self.get_temp_dir()
    for level, kept in ((1, 3), (2, 1)):
      folder = os.path.join(workdir, "lt", f"level_0{level}")
      os.makedirs(folder)
      hidden = np.zeros((5, 4), np.float32)
      hidden[:, :kept] = 1.0
      out = np.zeros((4, 2), np.float32)
      out[:kept] = 1.0
      np.savez(os.path.join(folder, "masks.npz"),
               **{"000:fc.kernel": hidden, "001:logits.kernel": out})
    result = _tool(f"--widths={workdir}")
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(json.loads(result.stdout), {
        "1": {"fc": [4, 3], "logits": [2, 2]},
        "2": {"fc": [4, 1], "logits": [2, 2]}})


if __name__ == "__main__":
  tf.test.main()
