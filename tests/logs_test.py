"""TensorFlow's INFO lines are dropped; this project's and all warnings stay.

A run asked for less (`TF_CPP_MIN_LOG_LEVEL` 1 to 3) prints no TensorFlow or
TFDS line, in the command, its worker processes and the Python API; only
`TF_CPP_MIN_LOG_LEVEL=0` (or `--verbose=2`) brings them back.
"""

import concurrent.futures
import logging
import os
import subprocess
import sys

import tensorflow as tf

from kdticket_tf import logs
from tests import testing


def _record(path, level, message="message", args=None):
  return logging.LogRecord("x", level, path, 1, message, args, None)


class LogsTest(tf.test.TestCase):

  def test_filter_drops_only_tensorflow_info(self):
    drop = logs._DropTensorFlowInfo()  # pylint: disable=protected-access
    tf_file = "/venv/site-packages/tensorflow/python/checkpoint/saver.py"
    self.assertFalse(drop.filter(_record(tf_file, logging.INFO)))
    self.assertTrue(drop.filter(_record(tf_file, logging.WARNING)))
    self.assertTrue(drop.filter(_record("/repo/kdticket_tf/lottery.py",
                                        logging.INFO)))

  def test_filter_drops_tfds_info_and_its_warning_about_no_folder(self):
    drop = logs._DropTensorFlowInfo()  # pylint: disable=protected-access
    tfds_file = "/venv/site-packages/tensorflow_datasets/core/file_utils.py"
    self.assertFalse(drop.filter(_record(tfds_file, logging.INFO)))
    message = "Variant folder %s has no dataset_info.json"
    existing = self.get_temp_dir()
    missing = os.path.join(existing, "fashion_mnist", "3.0.1")
    self.assertFalse(drop.filter(_record(tfds_file, logging.WARNING, message,
                                         (missing,))))
    self.assertTrue(drop.filter(_record(tfds_file, logging.WARNING, message,
                                        (existing,))))
    self.assertTrue(drop.filter(_record(tfds_file, logging.WARNING)))


# TensorFlow's and TFDS's lines, C++ (a glog prefix) or Python.
NOISE = (r"(?m)^[IWEF]\d{4} ", "absl::InitializeLog", "oneDNN", "cuda",
         "cuInit", "Sharding callback", "Variant folder", "Assets written",
         "fingerprint", "Constructing tf.data", "Function `")


def _environment(level):
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "KDTICKET_TF_SET_LOG_LEVEL")}
  env["PYTHONPATH"] = testing.ROOT
  if level is not None:
    env["TF_CPP_MIN_LOG_LEVEL"] = level
  return env


class QuietTest(tf.test.TestCase):

  def assertQuiet(self, output):
    for noise in NOISE:
      self.assertNotRegex(output, noise)

  def test_a_run_asked_for_less_prints_no_tensorflow_or_tfds_line(self):
    folder = self.get_temp_dir()

    def run(case):
      level, extra = case
      return subprocess.run(
          [sys.executable, "-m", "kdticket_tf.train",
           "--flagfile=configs/smoke.flags", "--levels=1", "--recipes=lt",
           "--epochs=1", f"--workdir={folder}/level_{level}", *extra],
          cwd=testing.ROOT, env=_environment(level), capture_output=True,
          text=True, timeout=600, check=False)

    # The smoke run (TFDS data, checkpoints, SavedModel exports), shortened;
    # level 1 with a worker process.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
      results = list(pool.map(run, [("3", []), ("1", [
          "--executor=local", "--workers=1"])]))
    for result in results:
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      output = result.stdout + result.stderr
      self.assertRegex(output, r"(?m)^lt +level 1/1 +weights remaining")
      self.assertQuiet(output)

  def test_the_python_api_starts_tensorflow_quietly_unless_asked(self):
    def start(level):
      return subprocess.run(
          [sys.executable, "-c", "import kdticket_tf; kdticket_tf.find_tickets"],
          env=_environment(level), capture_output=True, text=True,
          timeout=120, check=True)

    # Not set (a level of 1 to 3 takes the same path: only "0" is asked for).
    result = start(None)
    self.assertQuiet(result.stdout + result.stderr)
    self.assertRegex(start("0").stderr, NOISE[0])  # asked for: they are back


class EnvironmentTest(tf.test.TestCase):

  def _given(self, **variables):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "KDTICKET_TF_SET_LOG_LEVEL")}
    result = subprocess.run(
        [sys.executable, "-c", "from kdticket_tf import environment; "
         "print(environment.TF_LOG_LEVEL_GIVEN)"],
        env=dict(env, PYTHONPATH=testing.ROOT, **variables),
        capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()

  def test_only_the_users_own_log_level_counts_as_given(self):
    self.assertEqual(self._given(), "False")
    self.assertEqual(self._given(TF_CPP_MIN_LOG_LEVEL="0"), "True")
    # A worker process inherits the level the package set in its parent.
    self.assertEqual(self._given(TF_CPP_MIN_LOG_LEVEL="3",
                                 KDTICKET_TF_SET_LOG_LEVEL="1"), "False")


if __name__ == "__main__":
  tf.test.main()
