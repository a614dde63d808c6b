"""tools/choose_on_validation.py: the candidate of best mean validation accuracy."""

import json
import os
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELECTION = os.path.join(ROOT, "docs", "kd_ticket_study", "study_c",
                         "kd_select")


def _tool(*args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "tools", "choose_on_validation.py"),
       *args], cwd=ROOT, capture_output=True, text=True, check=False,
      timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))


def _row(recipe, level, validation, status="done", **extra):
  return {"recipe": recipe, "level": level, "validation_accuracy": validation,
          "test_accuracy": 0.5, "status": status, **extra}


class ChooseOnValidationTest(tf.test.TestCase):

  def _workdir(self, name, rows):
    """A workdir holding only `results.json` with `rows`."""
    folder = os.path.join(self.get_temp_dir(), self._testMethodName, name)
    os.makedirs(folder)
    with open(os.path.join(folder, "results.json"), "w",
              encoding="utf-8") as stream:
      json.dump(rows, stream)
    return folder

  def test_study_c_kd_selection_chooses_temperature_5_mean(self):
    # The committed rows of docs/kd_ticket_study.md's KD selection: kd at
    # 90% pruned, validation 61.60% (T 2, batchmean), 20.20% (T 5,
    # batchmean, collapsed), 64.60% (T 5, mean).
    paths = [os.path.join(SELECTION, f"{name}.json")
             for name in ("T2_batchmean", "T5_batchmean", "T5_mean")]
    result = _tool("--recipe=kd", *paths)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.splitlines(), [
        f"{paths[0]}: mean validation accuracy 61.60%",
        f"{paths[1]}: mean validation accuracy 20.20%",
        f"{paths[2]}: mean validation accuracy 64.60%",
        f"chosen: {paths[2]}"])

  def test_the_mean_over_finished_levels_of_the_recipe_chooses(self):
    dense = _row("dense", 0, 0.99)
    first = self._workdir("first", [
        dense, _row("kd", 1, 0.80), _row("kd", 2, 0.60),  # mean 70%
        _row("lt", 1, 0.99)])  # another recipe: not scored
    second = self._workdir("second", [
        dense, _row("kd", 1, 0.75), _row("kd", 2, 0.70),  # mean 72.5%
        _row("kd", 3, 0.99, status="failed")])  # unfinished: left out
    unscored = self._workdir("unscored", [dense, _row("kd", 1, None)])
    result = _tool("--recipe=kd", first, second, unscored)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.splitlines(), [
        f"{first}: mean validation accuracy 70.00%",
        f"{second}: mean validation accuracy 72.50%",
        f"{unscored}: mean validation accuracy n/a",
        f"chosen: {second}"])
    # With --recipe=lt only the first has rows: it is chosen.
    result = _tool("--recipe=lt", second, first)
    self.assertEqual(result.stdout.splitlines()[-1], f"chosen: {first}")

  def test_without_validation_rows_or_results_it_fails_in_one_sentence(self):
    unscored = self._workdir("unscored", [_row("kd", 1, None)])
    result = _tool("--recipe=kd", unscored)
    self.assertEqual(result.returncode, 1)
    self.assertIn("no candidate has finished 'kd' rows with a validation "
                  "accuracy", result.stderr)
    missing = os.path.join(self.get_temp_dir(), "nothing_here")
    result = _tool("--recipe=kd", unscored, missing)
    self.assertEqual(result.returncode, 1)
    self.assertIn(f"choose_on_validation: error: {missing}", result.stderr)
    self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
  tf.test.main()
