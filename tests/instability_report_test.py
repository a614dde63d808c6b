"""Tests of the instability tables, plot, choice, and the command line."""

import os
import subprocess
import sys

import tensorflow as tf
from absl.testing import absltest

from tests import testing
from kdticket_tf.store import artifacts
from kdticket_tf import config as config_lib
from kdticket_tf.instability import report as instability_report
from kdticket_tf.store import layout as layout_lib


def _row(start, step, barrier, level=0):
  errors = [30.0, 30.0 + barrier + 1.0, 32.0]
  return {"network": "dense" if not level else "lt/level_01", "level": level,
          "sparsity": 0.0, "start": start, "start_step": step,
          "barrier": barrier, "train_barrier": barrier / 2,
          "end_errors": [30.0, 32.0], "train_end_errors": [5.0, 6.0],
          "errors": errors, "train_errors": [5.0, 9.0, 6.0],
          "coefficients": [0.0, 0.5, 1.0], "bn_statistics": "recomputed",
          "stable": barrier <= 2.0, "data_seeds": [1, 2], "seconds": 3.0}


class ReportTest(tf.test.TestCase):

  def test_tables_and_plot(self):
    layout = layout_lib.Layout(self.get_temp_dir())
    rows = [_row("0it", 0, 5.0), _row("2ep", 80, 1.0)]
    instability_report.write(layout, rows, config_lib.LotteryConfig(), "t")
    with open(layout.instability("md"), encoding="utf-8") as stream:
      table = stream.read()
    self.assertIn("| dense | 0it | 0 | 5.00 | 2.50 | 30.00, 32.00 | "
                  "recomputed | no | 3 |", table)
    self.assertIn("| dense | 2ep | 80 | 1.00 |", table)
    with open(layout.instability("csv")) as stream:
      lines = stream.read().splitlines()
    self.assertEqual(lines[0].split(",")[:6],
                     ["network", "level", "sparsity", "start", "start_step",
                      "barrier"])
    self.assertIn("30 32", lines[1])
    self.assertTrue(os.path.getsize(layout.instability("png")) > 1000)
    self.assertEqual(
        artifacts.read_json(layout.instability("json"))["threshold"], 2.0)

  def test_no_stable_step_is_refused_and_nothing_is_recorded(self):
    layout = layout_lib.Layout(self.get_temp_dir())
    rows = [_row("0it", 0, 5.0), _row("2ep", 80, 2.5)]
    with self.assertRaisesRegex(ValueError, r"0it: 5\.00, 2ep: 2\.50"):
      instability_report.choose_rewind_step(layout, rows,
                                            config_lib.LotteryConfig())
    self.assertFalse(os.path.exists(layout.rewind_choice))
    self.assertFalse(os.path.exists(layout.rewind_weights))


class ScreenTableTest(tf.test.TestCase):

  def test_the_screen_table_is_built_from_committed_rows(self):
    result = subprocess.run(
        [sys.executable, os.path.join(testing.ROOT, "tools", "run_screen.py"),
         "--table", f"--screen_rows={self.get_temp_dir()}"],
        capture_output=True, text=True, check=False, cwd=testing.ROOT)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(len(result.stdout.splitlines()), 2)  # header only
    row = {"name": "conv_4k_lr0.1", "setup": "ConvNet", "status": "done",
           "wall_seconds": 120.0, "dense_test_accuracy": 0.95,
           "instability": [dict(_row("0", 0, 10.0), stable=False),
                           dict(_row("2ep", 80, 0.5), stable=True)]}
    artifacts.write_json(os.path.join(self.get_temp_dir(), "conv.json"), row)
    result = subprocess.run(
        [sys.executable, os.path.join(testing.ROOT, "tools", "run_screen.py"),
         "--table", f"--screen_rows={self.get_temp_dir()}"],
        capture_output=True, text=True, check=False, cwd=testing.ROOT)
    self.assertIn("| ConvNet | 95.00 | k=0: 10.00; k=2ep (80 it): 0.50 | yes "
                  "| 2.0 min |", result.stdout)


class CommandLineTest(tf.test.TestCase):

  def test_smoke_flagfile_writes_instability_json(self):
    workdir = os.path.join(self.get_temp_dir(), "run")
    result = testing.run_cli(
        "--flagfile=configs/smoke.flags", f"--workdir={workdir}",
        "--analysis=instability", "--instability_steps=0,1ep",
        "--instability_points=5", "--export=false")
    self.assertEqual(result.returncode, 0, result.stderr)
    layout = layout_lib.Layout(workdir)
    rows = artifacts.read_json(layout.instability("json"))["rows"]
    self.assertEqual([r["start_step"] for r in rows], [0, 16])
    for row in rows:
      self.assertLen(row["errors"], 5)
      for field in ("start_step", "barrier", "errors", "end_errors",
                    "bn_statistics"):
        self.assertIn(field, row)
    self.assertIn("barrier (test, points)", result.stdout)
    # Only the dense run and the analysis trained: no ticket.
    self.assertFalse(os.path.exists(os.path.join(workdir, "lt")))


if __name__ == "__main__":
  absltest.main()
