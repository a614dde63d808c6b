"""Tests of the command line: bad input, flagfiles, the smoke flagfile's config.

The smoke flagfile runs end to end in executors_test (its sequential run).
"""

import concurrent.futures
import contextlib
import glob
import io
import os
import re
import tempfile

import tensorflow as tf
from absl import flags
from absl.testing import parameterized

from kdticket_tf import models
from kdticket_tf import train
from kdticket_tf.config import flags as trainer_flags
from tests import testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "configs", "*.flags")))


run_cli = testing.run_cli


# (case, extra flags, text the error must contain). Every case also gets
# --dataset=synthetic --verbose=0 and, unless it sets one, --epochs=1.
BAD_INPUTS = (
    ("prune_fraction", ["--prune_fraction=1.5"],
     "--prune_fraction=1.5 must be strictly between 0 and 1."),
    ("recipe", ["--recipes=lt,lotto"], "--recipes='lotto' is unknown"),
    ("model", ["--model=resnet"], "--model='resnet' is unknown"),
    ("dataset", ["--dataset=cifar"], "--dataset='cifar' is unknown"),
    ("rewind_step", ["--recipes=rewind", "--rewind_step=9ep"],
     "--rewind_step=9ep is"),
    ("rewind_format", ["--rewind_step=9"], "--rewind_step='9' is not a"),
    ("alpha", ["--kd_alpha=2"], "--kd_alpha=2.0 must be in [0, 1]."),
    ("temperature", ["--kd_temperature=0"],
     "--kd_temperature=0.0 must be greater than 0."),
    ("both_lengths", ["--epochs=1", "--train_steps=10"],
     "--epochs/--train_steps needs exactly one length"),
    ("zero_epochs", ["--epochs=0"], "--epochs/--train_steps=0ep must be"),
    ("levels", ["--levels=-1"], "--levels=-1 must be 0"),
    ("oneshot_targets", ["--prune_schedule=oneshot",
                         "--target_sparsities=0.5,0.4"],
     "--target_sparsities=(0.5, 0.4) must be strictly increasing."),
    ("data_dir", ["--data_dir=/no/such/folder"],
     "--data_dir='/no/such/folder' does not exist"),
    ("prune_scope", ["--prune_scope=row"], "--prune_scope=row"),
    ("kd_reduction", ["--kd_reduction=sum"], "--kd_reduction=sum"),
    ("learning_rate", ["--lr=-0.1"], "--lr=-0.1 must be greater than 0."),
    ("batch_size", ["--batch_size=0"], "--batch_size=0 must be greater"),
    ("keep_dense", ["--keep_dense=("], "--keep_dense pattern '('"),
    ("validation_size", ["--validation_size=5000"],
     "--validation_size=5000 leaves no training examples"),
    ("milestones", ["--lr_schedule=step"],
     "--lr_schedule='step' needs --lr_milestones"),
    ("strategy_batch", ["--virtual_cpus=2", "--strategy=mirrored",
                        "--batch_size=63"], "--batch_size=63 is not divisible"),
    # 1024 examples / 32 = 32 steps per epoch; calls of 4 steps end at 4, 8...
    ("rewind_inside_a_call", ["--recipes=rewind", "--rewind_step=6it",
                              "--steps_per_execution=4", "--batch_size=32"],
     "use 4it or 8it"),
    ("layer_fractions_global", ["--layer_prune_fractions=logits:0.1"],
     "--layer_prune_fractions applies to iterative layer-wise pruning, but "
     "--prune_scope='global'"),
    ("layer_fractions_no_layer", ["--layer_prune_fractions=output:0.1",
                                  "--prune_scope=layerwise"],
     "--layer_prune_fractions pattern 'output' matches none of the prunable "
     "layers"),
    ("keep_dense_no_layer", ["--keep_dense=output"],
     "--keep_dense pattern 'output' matches none of the model's layers"),
    ("keep_dense_everything", ["--keep_dense=.*"],
     "--keep_dense=['.*'] leaves none of the prunable layers"),
    ("layer_fractions_format", ["--layer_prune_fractions=logits"],
     "regex:fraction items"),
    ("teacher_path", ["--recipes=lt,kd", "--kd_teacher=/no/teacher.npz"],
     "--kd_teacher='/no/teacher.npz' is neither"),
    ("executor_user_strategy", ["--executor=local",
                                "--strategy=multi_worker"],
     "--executor='local' cannot run --strategy='multi_worker' stages"),
    ("structure_levels", ["--sparsity_structure=2:4", "--levels=2",
                          "--prune_fraction=0.5"],
     "--sparsity_structure='2:4' prunes exactly 50% of every layer, in one "
     "level, but 2 levels"),
    # fc1's 300 channels: 30 left after level 1, 3 after level 2, 0 after 3.
    ("channel_layer_fractions", ["--sparsity_structure=channel",
                                 "--prune_scope=layerwise", "--levels=3",
                                 "--layer_prune_fractions=fc1:0.9"],
     "--layer_prune_fractions gives 'fc1' the fraction 0.9 per level, which "
     "under --sparsity_structure='channel' is a fraction of its channels: it "
     "would prune all 300 of its prunable channels by level 3"),
    ("channel_criterion_alone", ["--channel_criterion=refill"],
     "--channel_criterion='refill' ranks the channels of "
     "--sparsity_structure='channel', not those of "
     "--sparsity_structure='unstructured'"),
)
# Run as separate processes: the command line's exit status, one sentence on
# stderr and no traceback (the others run in this process, the same code).
IN_A_PROCESS = ("prune_fraction", "strategy_batch", "rewind_inside_a_call",
                "prune_scope")

# The tests find a case's result by its message: keep the messages distinct.
assert len({text for _, _, text in BAD_INPUTS}) == len(BAD_INPUTS)


def _arguments(name, args, folder):
  defaults = ["--dataset=synthetic", "--verbose=0"]
  if not any(a.startswith(("--epochs", "--train_steps")) for a in args):
    defaults.append("--epochs=1")
  return os.path.join(folder, name), defaults + args


def _run_here(workdir, args):
  """Runs the trainer's main in this process; returns (status, stderr)."""
  stderr = io.StringIO()
  try:
    flags.FLAGS(["train", f"--workdir={workdir}", *args])
  except flags.Error as error:
    return 1, str(error)
  try:
    with contextlib.redirect_stderr(stderr):
      return train.main(["train"]), stderr.getvalue()
  finally:
    flags.FLAGS.unparse_flags()


class BadInputTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_bad_input_")

    def run_case(case):
      name, args, _ = case
      workdir, args = _arguments(name, args, cls.folder)
      return name, (workdir, run_cli(f"--workdir={workdir}", *args))

    # Each is a separate process; two at a time keep the two cores busy.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
      cls.processes = dict(pool.map(
          run_case, [c for c in BAD_INPUTS if c[0] in IN_A_PROCESS]))

  @parameterized.named_parameters(*BAD_INPUTS)
  def test_bad_flag_fails_with_one_sentence_before_training(self, args,
                                                            message):
    name = next(case for case, _, text in BAD_INPUTS if text == message)
    if name in IN_A_PROCESS:
      workdir, result = self.processes[name]
      status, stderr = result.returncode, result.stderr
      self.assertNotIn("Traceback", stderr)
      self.assertIn(message, stderr.strip().splitlines()[0])  # one line
    else:
      workdir, args = _arguments(name, args, self.folder)
      status, stderr = _run_here(workdir, args)
    self.assertNotEqual(status, 0)
    self.assertIn(message, stderr)
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))
    self.assertFalse(os.path.exists(os.path.join(workdir, "dense",
                                                 "init.weights.npz")))

  def test_unwritable_workdir_is_reported(self):
    blocker = os.path.join(self.get_temp_dir(), "a_file")
    with open(blocker, "w") as stream:
      stream.write("not a folder")
    status, stderr = _run_here(f"{blocker}/run", ["--dataset=synthetic",
                                                  "--epochs=1", "--verbose=0"])
    self.assertNotEqual(status, 0)
    self.assertIn(f"workdir='{blocker}/run'", stderr)
    self.assertNotIn("Traceback", stderr)

  def test_missing_flagfile_is_reported(self):
    result = run_cli("--flagfile=configs/nope.flags", "--workdir=unused")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("nope.flags", result.stderr)
    self.assertNotIn("Traceback", result.stderr)


class FlagfilesTest(tf.test.TestCase, parameterized.TestCase):

  def test_there_are_flagfiles(self):
    self.assertGreaterEqual(len(FLAGFILES), 6)

  def test_the_flags_file_holds_the_trainers_flags_and_rebuilds_the_config(self):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
      flags.FLAGS(["train", "--flagfile=configs/quickstart.flags",
                   "--workdir=unused", "--lr=0.05"])
      config, written = trainer_flags.config_from_flags(), trainer_flags.flags_file()
      flags.FLAGS.unparse_flags()
      path = os.path.join(self.get_temp_dir(), "flags.txt")
      with open(path, "w") as stream:
        stream.write(written)
      flags.FLAGS(["train", f"--flagfile={path}"])
      again = trainer_flags.config_from_flags()
    finally:
      flags.FLAGS.unparse_flags()
      os.chdir(cwd)
    self.assertIn("--lr=0.05\n", written)
    self.assertIn("--workdir=unused\n", written)
    self.assertNotIn("--test_tmpdir", written)  # absl's own flags left out
    self.assertNotIn("--verbosity", written)
    self.assertEqual(again, config)

  @parameterized.parameters(*[os.path.basename(p) for p in FLAGFILES])
  def test_flagfile_opens_with_its_command_and_builds_a_valid_config(self, name):
    path = os.path.join("configs", name)
    with open(os.path.join(ROOT, path)) as stream:
      header = stream.read().split("\n--", 1)[0]
    # A search's own command, or the seeds runner's for a study's flagfile.
    self.assertRegex(header, f"--(flagfile|config)={re.escape(path)}")
    self.assertTrue(all(line.startswith("#") for line in header.splitlines()))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
      flags.FLAGS(["train", f"--flagfile={path}", "--workdir=unused"])
      config = trainer_flags.config_from_flags()
    finally:
      flags.FLAGS.unparse_flags()
      os.chdir(cwd)
    models.get(config.model.name)
    self.assertNotEmpty(config.recipes)


if __name__ == "__main__":
  tf.test.main()
