"""Tests of the command line: the smoke flagfile end to end, and bad input."""

import concurrent.futures
import glob
import json
import os
import subprocess
import sys
import tempfile

import tensorflow as tf
from absl import flags
from absl.testing import parameterized

from kdticket_tf import models
from kdticket_tf import train
from tests import testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "configs", "*.flags")))


run_cli = testing.run_cli


class SmokeTest(tf.test.TestCase):

  def test_smoke_flagfile_runs_end_to_end(self):
    workdir = os.path.join(self.get_temp_dir(), "smoke")
    result = run_cli("--flagfile=configs/smoke.flags", f"--workdir={workdir}")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("| level | % weights remaining | lt | rewind | kd |",
                  result.stdout)
    with open(os.path.join(workdir, "results.json")) as stream:
      rows = json.load(stream)
    self.assertEqual({(r["recipe"], r["level"]) for r in rows},
                     {("dense", 0)} | {(r, l) for r in ("lt", "rewind", "kd")
                                       for l in (1, 2)})
    for row in rows:
      self.assertNear(row["sparsity"], 1 - 0.8**row["level"], 0.005)
      self.assertBetween(row["test_accuracy"], 0.3, 1.0)
    # A person reads this output: no TensorFlow start-up lines, no absl prefix.
    output = result.stdout + result.stderr
    for noise in ("cuda", "cuInit", "oneDNN", "absl::InitializeLog",
                  "lottery.py:"):
      self.assertNotIn(noise, output)
    self.assertNotRegex(output, r"(?m)^[IWEF]\d{4} ")
    self.assertRegex(result.stdout + result.stderr,
                     r"(?m)^kd +level 2/2 +weights remaining  64\.00%")
    for name in ("config.json", "flags.txt", "results.csv", "results.md",
                 "dense/init.weights.npz", "dense/rewind.weights.npz",
                 "lt/level_02/masks.npz", "kd/level_01/final.weights.npz"):
      self.assertTrue(os.path.exists(os.path.join(workdir, name)), name)


# (case, extra flags, text the error must contain). Every case also gets
# --dataset=synthetic --verbose=0 and, unless it sets one, --epochs=1.
BAD_INPUTS = (
    ("prune_fraction", ["--prune_fraction=1.5"], "prune_fraction=1.5"),
    ("recipe", ["--recipes=lt,lotto"], "recipe='lotto'"),
    ("model", ["--model=resnet"], "model='resnet'"),
    ("dataset", ["--dataset=cifar"], "dataset='cifar'"),
    ("rewind_step", ["--recipes=rewind", "--rewind_step=9ep"],
     "rewind_step=9ep"),
    ("rewind_format", ["--rewind_step=9"], "rewind_step='9'"),
    ("alpha", ["--kd_alpha=2"], "kd_alpha=2.0"),
    ("temperature", ["--kd_temperature=0"], "kd_temperature=0.0"),
    ("both_lengths", ["--epochs=1", "--train_steps=10"],
     "exactly one of --epochs"),
    ("zero_epochs", ["--epochs=0"], "--epochs=0"),
    ("levels", ["--levels=-1"], "levels=-1"),
    ("oneshot_targets", ["--prune_schedule=oneshot",
                         "--target_sparsities=0.5,0.4"], "target_sparsities"),
    ("data_dir", ["--data_dir=/no/such/folder"], "data_dir='/no/such/folder'"),
    ("prune_scope", ["--prune_scope=row"], "--prune_scope=row"),
    ("kd_reduction", ["--kd_reduction=sum"], "--kd_reduction=sum"),
    ("learning_rate", ["--lr=-0.1"], "--lr"),
    ("batch_size", ["--batch_size=0"], "batch_size=0"),
    ("keep_dense", ["--keep_dense=("], "keep_dense"),
    ("validation_size", ["--validation_size=5000"], "validation_size=5000"),
    ("milestones", ["--lr_schedule=step"], "lr_milestones"),
    ("strategy_batch", ["--virtual_cpus=2", "--strategy=mirrored",
                        "--batch_size=63"], "batch_size=63"),
    # 1024 examples / 32 = 32 steps per epoch; calls of 4 steps end at 4, 8...
    ("rewind_inside_a_call", ["--recipes=rewind", "--rewind_step=6it",
                              "--steps_per_execution=4", "--batch_size=32"],
     "use 4it or 8it"),
    ("layer_fractions_global", ["--layer_prune_fractions=logits:0.1"],
     "prune_scope='global'"),
    ("layer_fractions_no_layer", ["--layer_prune_fractions=output:0.1",
                                  "--prune_scope=layerwise"],
     "'output' matches none of the prunable layers"),
    ("layer_fractions_format", ["--layer_prune_fractions=logits"],
     "is not regex:fraction"),
    ("teacher_path", ["--recipes=lt,kd", "--kd_teacher=/no/teacher.npz"],
     "/no/teacher.npz"),
)

# The tests find a case's result by its message: keep the messages distinct.
assert len({text for _, _, text in BAD_INPUTS}) == len(BAD_INPUTS)


class BadInputTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_bad_input_")

    def run_case(case):
      name, args, _ = case
      defaults = ["--dataset=synthetic", "--verbose=0"]
      if not any(a.startswith(("--epochs", "--train_steps")) for a in args):
        defaults.append("--epochs=1")
      workdir = os.path.join(cls.folder, name)
      return name, (workdir, run_cli(*defaults, f"--workdir={workdir}", *args))

    # Each case is a separate process (its exit status and stderr are what is
    # tested); three at a time keep the two cores busy.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
      cls.results = dict(pool.map(run_case, BAD_INPUTS))

  @parameterized.named_parameters(*BAD_INPUTS)
  def test_bad_flag_fails_with_one_sentence_and_no_traceback(self, args,
                                                             message):
    del args
    name = next(case for case, _, text in BAD_INPUTS if text == message)
    workdir, result = self.results[name]
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(message, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))

  def test_unwritable_workdir_is_reported(self):
    blocker = os.path.join(self.get_temp_dir(), "a_file")
    with open(blocker, "w") as stream:
      stream.write("not a folder")
    result = run_cli("--dataset=synthetic", "--epochs=1", "--verbose=0",
                     f"--workdir={blocker}/run")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn(f"workdir='{blocker}/run'", result.stderr)
    self.assertNotIn("Traceback", result.stderr)

  def test_missing_flagfile_is_reported(self):
    result = run_cli("--flagfile=configs/nope.flags", "--workdir=unused")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("nope.flags", result.stderr)
    self.assertNotIn("Traceback", result.stderr)


class FlagfilesTest(tf.test.TestCase, parameterized.TestCase):

  def test_there_are_flagfiles(self):
    self.assertGreaterEqual(len(FLAGFILES), 6)

  @parameterized.parameters(*[os.path.basename(p) for p in FLAGFILES])
  def test_flagfile_opens_with_its_command_and_builds_a_valid_config(self, name):
    path = os.path.join("configs", name)
    with open(os.path.join(ROOT, path)) as stream:
      header = stream.read().split("\n--", 1)[0]
    self.assertIn(f"--flagfile={path}", header)
    self.assertTrue(all(line.startswith("#") for line in header.splitlines()))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
      flags.FLAGS(["train", f"--flagfile={path}", "--workdir=unused"])
      config = train.config_from_flags()
    finally:
      flags.FLAGS.unparse_flags()
      os.chdir(cwd)
    models.get(config.model.name)
    self.assertNotEmpty(config.recipes)


if __name__ == "__main__":
  tf.test.main()
