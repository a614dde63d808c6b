"""Tests of runs over several seeds: the summary, the table tool, the seeds tool."""

import json
import os
import re
import subprocess
import sys

import tensorflow as tf

from kdticket_tf.report import results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(accuracies, failed=()):
  """Rows of one seed: dense, then lt and kd at level 1 with the accuracies."""
  rows = [{"recipe": "dense", "level": 0, "weights_remaining": 1.0,
           "test_accuracy": accuracies[0], "status": "done"}]
  for recipe, accuracy in zip(("lt", "kd"), accuracies[1:]):
    status = "failed" if recipe in failed else "done"
    rows.append({"recipe": recipe, "level": 1, "weights_remaining": 0.2,
                 "test_accuracy": None if failed and recipe in failed
                 else accuracy, "status": status})
  return rows


def _tool(*args):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600,
                        check=False)


class SummaryTest(tf.test.TestCase):

  def test_mean_sample_std_and_count_per_recipe_and_level(self):
    runs = [_run((0.90, 0.80, 0.70)), _run((0.92, 0.84, 0.74)),
            _run((0.94, 0.88, 0.0), failed=("kd",))]
    summary = {(r["recipe"], r["level"]): r
               for r in results.summarize_seeds(runs)}
    self.assertAllClose([summary[("dense", 0)][k] for k in ("mean", "std")],
                        [0.92, 0.02])
    self.assertEqual(summary[("lt", 1)]["n"], 3)
    self.assertAllClose(summary[("lt", 1)]["std"], 0.04)
    # The failed kd run is left out: n = 2, std of (0.70, 0.74).
    self.assertEqual(summary[("kd", 1)]["n"], 2)
    self.assertAllClose(summary[("kd", 1)]["mean"], 0.72)
    self.assertAllClose(summary[("kd", 1)]["std"], 0.0282843, atol=1e-6)
    table = results.seeds_to_markdown(list(summary.values()), ("lt", "kd"))
    self.assertIn("| 0 (dense) | 100.0 | 92.00 ± 2.00 (3) | 92.00 ± 2.00 (3) |",
                  table)
    self.assertIn("| 1 | 20.0 | 84.00 ± 4.00 (3) | 72.00 ± 2.83 (2) |", table)


class ToolsTest(tf.test.TestCase):

  def test_results_table_over_seed_files(self):
    paths = []
    for seed, accuracies in enumerate(((0.90, 0.80, 0.70), (0.92, 0.84, 0.74))):
      path = os.path.join(self.get_temp_dir(), f"seed_{seed}.json")
      with open(path, "w") as stream:
        json.dump(_run(accuracies), stream)
      paths.append(path)
    result = _tool("tools/results_table.py", "--seeds", *paths)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn("mean ± std (n) over 2 runs", result.stdout)
    self.assertIn("| 1 | 20.0 | 82.00 ± 2.83 (2) | 72.00 ± 2.83 (2) |",
                  result.stdout)
    # kd - lt, paired by seed: -0.10 and -0.10 -> -10.00 ± 0.00 points.
    paired = _tool("tools/results_table.py", "--seeds", "--minus=lt", *paths)
    self.assertEqual(paired.returncode, 0, paired.stderr)
    self.assertIn("| 1 | 20.0 | -10.00 ± 0.00 (2) |", paired.stdout)
    missing = _tool("tools/results_table.py", "--seeds", "/no/such/run")
    self.assertEqual(missing.returncode, 1)
    self.assertIn("/no/such/run does not exist", missing.stderr)

  def test_run_seeds_gives_each_seed_its_workdir_and_resumes(self):
    flagfile = os.path.join(self.get_temp_dir(), "tiny.flags")
    with open(flagfile, "w") as stream:
      stream.write("\n".join([
          "--dataset=synthetic", "--synthetic_shape=8",
          "--synthetic_examples=256", "--batch_size=32", "--train_steps=16",
          "--model=lenet_300_100", "--levels=1", "--recipes=lt", "--noexport",
          "--verbose=0"]) + "\n")
    workdir = os.path.join(self.get_temp_dir(), "seeds")
    def args(seeds):
      return ("tools/run_seeds.py", f"--config={flagfile}", f"--seeds={seeds}",
              f"--workdir={workdir}", "--parallel=2")
    result = _tool(*args("0,1"))
    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    self.assertRegex(result.stdout, r"seed 0: done")
    seeds = []
    for seed in (0, 1):
      with open(os.path.join(workdir, f"seed_{seed}", "config.json")) as f:
        seeds.append(json.load(f)["train"]["seed"])
    self.assertEqual(seeds, [0, 1])
    final = os.path.join(workdir, "seed_1", "lt", "level_01", "final.weights.npz")
    stamp = os.stat(final).st_mtime_ns
    log_path = os.path.join(workdir, "seed_1.log")
    with open(log_path, encoding="utf-8") as stream:
      first_log = stream.read()
    self.assertStartsWith(first_log, "=== run_seeds ")
    self.assertIn("Results in", first_log)
    # Seed 1 again, named twice: its finished workdir is resumed once,
    # nothing retrained, and its log goes on after the first run's.
    again = _tool(*args("1,1"))
    self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
    self.assertLen(re.findall("seed 1: done", again.stdout), 1)
    self.assertEqual(
        os.stat(final).st_mtime_ns,
        stamp)  # finished: nothing retrained
    with open(log_path, encoding="utf-8") as stream:
      log = stream.read()
    self.assertStartsWith(log, first_log)
    rerun = log[len(first_log):]
    self.assertStartsWith(rerun, "=== run_seeds ")
    self.assertIn("--seed=1", rerun.splitlines()[0])
    self.assertIn("Resuming: 2 of 2 stages had finished.", rerun)


class StudyReportTest(tf.test.TestCase):
  """docs/kd_ticket_study.md is what its committed rows give."""

  def test_the_study_doc_is_up_to_date_with_its_rows(self):
    result = _tool("tools/study_report.py", "--check")
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_a_table_edited_by_hand_is_caught(self):
    with open(os.path.join(ROOT, "docs", "kd_ticket_study.md")) as stream:
      text = stream.read()
    edited = text.replace("| 0 (dense) | 100.0 | 89.69 ± 0.10 (3)",
                          "| 0 (dense) | 100.0 | 99.69 ± 0.10 (3)", 1)
    self.assertNotEqual(edited, text)
    path = os.path.join(self.get_temp_dir(), "study.md")
    with open(path, "w") as stream:
      stream.write(edited)
    result = _tool("tools/study_report.py", "--check", f"--doc={path}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("out of date", result.stderr)


if __name__ == "__main__":
  tf.test.main()
