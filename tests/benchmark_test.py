"""The benchmark tools run and report every figure (no timing is asserted)."""

import json
import os
import re
import statistics
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchmark_json(*flags):
  """Runs tools/benchmark.py with `flags` and --format=json; returns the run."""
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "tools", "benchmark.py"),
       "--format=json", *flags],
      env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
      capture_output=True, text=True, timeout=600, check=False)


class BenchmarkToolTest(tf.test.TestCase):

  def test_json_report_has_every_mode_and_ratio(self):
    json_out = os.path.join(self.get_temp_dir(), "report.json")
    result = _benchmark_json("--steps=2", "--repeats=3",
                             "--pipeline_dataset=synthetic",
                             f"--json_out={json_out}")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    report = json.loads(result.stdout)
    self.assertEqual(set(report["images_per_second"]),
                     {"dense", "masked", "kd", "kd_cached", "eval",
                      "pipeline_real", "pipeline_memory"})
    for key in ("masked_vs_dense", "kd_vs_dense", "kd_cached_vs_dense",
                "kd_vs_masked", "kd_cached_vs_masked",
                "pipeline_vs_memory_throughput"):
      self.assertGreater(report[key], 0.0, key)
    self.assertEqual(report["setup"]["model"], "lenet_300_100")
    with open(json_out) as stream:
      self.assertEqual(json.load(stream), report)

  def test_steps_per_execution_counts_every_step_of_a_call(self):
    result = _benchmark_json("--steps=5", "--repeats=1", "--pipeline_dataset=",
                             "--steps_per_execution=2", "--modes=dense,eval")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    report = json.loads(result.stdout)
    # Two calls of two steps each; per-step times divide by four.
    self.assertEqual(report["setup"]["steps_per_round"],
                     {"dense": 4, "eval": 4})


class ExecutorsBenchmarkTest(tf.test.TestCase):

  def test_every_pair_and_the_ratio_s_spread_are_reported(self):
    flagfile = os.path.join(self.get_temp_dir(), "tiny.flags")
    with open(flagfile, "w") as stream:
      stream.write("\n".join([
          "--dataset=synthetic", "--synthetic_shape=8",
          "--synthetic_examples=128", "--batch_size=32", "--train_steps=8",
          "--model=lenet_300_100", "--levels=1", "--recipes=lt",
          "--noexport", "--verbose=0"]) + "\n")
    json_out = os.path.join(self.get_temp_dir(), "executors.json")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "benchmark_executors.py"),
         f"--search={flagfile} --levels=1", "--pairs=2", "--workers=1",
         f"--json_out={json_out}"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT,
                           TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True, text=True, timeout=600, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(json_out) as stream:
      report = json.load(stream)
    [search] = report["searches"]
    ratios = [p["local"] / p["sequential"] for p in search["pairs"]]
    self.assertEqual([p["first"] for p in search["pairs"]],
                     ["sequential", "local"])  # the order alternates
    self.assertAllClose([p["ratio"] for p in search["pairs"]], ratios)
    spread = search["ratio"]
    self.assertEqual(spread["pairs"], 2)
    self.assertAllClose(
        [spread[k] for k in ("median", "mean", "std", "min", "max")],
        [statistics.median(ratios), sum(ratios) / 2,
         abs(ratios[0] - ratios[1]) / 2**0.5, min(ratios), max(ratios)])
    self.assertEqual(search["median_ratio"], spread["median"])
    summary = result.stdout.splitlines()[-1]
    self.assertRegex(summary, r"local/sequential wall time over 2 pairs: "
                     r"median \d\.\d{3}, mean \d\.\d{3} ± \d\.\d{3}, "
                     r"min-max \d\.\d{3}-\d\.\d{3}; fewer than 3 pairs, "
                     "no figure to quote$")
    self.assertLen(re.findall(r"pair \d: sequential", result.stdout), 2)

  def test_fewer_than_one_pair_is_refused(self):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "benchmark_executors.py"),
         "--pairs=0"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True, text=True, timeout=600, check=False)
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("--pairs", result.stderr)


if __name__ == "__main__":
  tf.test.main()
