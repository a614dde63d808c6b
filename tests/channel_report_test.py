"""docs/channel_tickets.md (study E) is what its committed rows give."""

import json
import os

import tensorflow as tf

from tests import testing

ROWS = os.path.join(testing.ROOT, "docs", "channel_tickets")


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

  def test_every_committed_row_is_a_study_e_run(self):
    for arm in ("l1", "refill"):
      for setup in ("lenet", "conv"):
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
