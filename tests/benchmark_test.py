"""The benchmark tool runs and reports every figure (no timing is asserted)."""

import json
import os
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


if __name__ == "__main__":
  tf.test.main()
