"""Settings: one declaration per field gives its flag, its words, its roles."""

import glob
import os
import re
import subprocess
import sys

import tensorflow as tf
from absl import flags
from absl.testing import parameterized

from kdticket_tf import config
from kdticket_tf.config import settings
from kdticket_tf import train
from kdticket_tf.config import flags as trainer_flags
from kdticket_tf.config import recorded as recorded_lib
from tests import testing

# The command line as it was before the flags were generated from the fields:
# every one of these flags keeps its name, default and help text (settings
# added since have their own flags too).
FLAG_DEFAULTS = {
    "dataset": "fashion_mnist", "data_dir": None, "batch_size": 128,
    "eval_batch_size": 1000, "validation_size": 0, "augment": "auto",
    "train_size": 0, "synthetic_shape": ["28", "28", "1"],
    "synthetic_classes": 10, "synthetic_examples": 1024,
    "model": "lenet_300_100", "depth": 20, "block": "basic", "width": 16,
    "epochs": None, "train_steps": None, "optimizer": "sgd", "lr": 0.1,
    "momentum": 0.9, "nesterov": False, "lr_schedule": "constant",
    "lr_milestones": [], "lr_decay": 0.1, "warmup": "0it",
    "weight_decay": 0.0, "seed": 0, "deterministic": False, "verbose": 1,
    "jit_compile": False, "mixed_precision": "", "steps_per_execution": 1,
    "prune_schedule": "iterative", "prune_fraction": 0.2, "levels": 3,
    "target_sparsities": [], "prune_scope": "global", "keep_dense": [],
    "recipes": ["lt"], "rewind_step": "0it", "finetune_lr": None,
    "layer_prune_fractions": [], "kd_alpha": 0.9, "kd_temperature": 5.0,
    "kd_reduction": "batchmean", "kd_stop_epoch": None, "kd_teacher": "dense",
    "kd_cache_teacher_logits": False, "strategy": "auto", "virtual_cpus": 0,
    "executor": "sequential", "workers": 2, "gpus_per_worker": None,
    "threads_per_stage": 0, "stage_cpus": 1.0, "stage_gpus": 0.0,
    "ray_address": "", "export": True, "export_tflite": False,
}
HELP = {
    "lr": "Peak learning rate.",
    "prune_fraction": "Fraction of surviving weights pruned per iterative "
                      "level.",
    "kd_teacher": "dense, previous_level, or a path to teacher weights or a "
                  "Keras SavedModel.",
    "epochs": "Training length in epochs.",
    "train_steps": "Training length in steps.",
}


def _flags(**given):
  values = {f.name: f.default for f in settings.command_line()}
  values.update({"epochs": 1, **given})
  return values


class SettingsTest(tf.test.TestCase, parameterized.TestCase):

  def test_every_field_has_a_flag_and_every_flag_a_field(self):
    fields = {s.path for s in settings.all_settings()}
    sections = {f"{name}.{field}" for name, cls in settings.SECTIONS.items()
                for field in cls.__dataclass_fields__}
    self.assertEqual(fields, sections | {"recipes"})
    names = [f.name for f in settings.command_line()]
    self.assertLen(set(names), len(names))
    # One flag per field (the length has two: epochs and train_steps).
    self.assertLen(names, len(fields) + 1)
    self.assertEmpty(set(FLAG_DEFAULTS) - set(names))  # every flag kept
    defined = {flag.name for flag in
               flags.FLAGS.flags_by_module_dict()["kdticket_tf.config.flags"]}
    self.assertEqual(defined, set(names) | {"workdir", "overwrite"})
    # The trainer's --help lists them all as its own (key flags).
    trainer = {flag.name for flag in
               flags.FLAGS.get_key_flags_for_module(train)}
    self.assertEqual(trainer, defined)

  def test_flags_keep_their_defaults_and_help(self):
    for name, default in FLAG_DEFAULTS.items():
      self.assertEqual(flags.FLAGS[name].default, default, name)
    for name, text in HELP.items():
      self.assertEqual(flags.FLAGS[name].help, text, name)

  def test_helpfull_lists_every_flag(self):
    result = subprocess.run(
        [sys.executable, "-m", "kdticket_tf.train", "--helpfull"],
        cwd=testing.ROOT, capture_output=True, text=True, timeout=120,
        check=False)
    for flag in settings.command_line():
      self.assertRegex(result.stdout, rf"--(\[no\])?{flag.name}: ", flag.name)

  def test_flag_values_build_the_config(self):
    built = settings.config_from_flags(_flags(
        epochs=None, train_steps=300, lr=0.05, augment="false",
        synthetic_shape=["8", "8"], lr_milestones=["2ep", "100it"],
        layer_prune_fractions=["logits:0.1", "fc.*:0.3"],
        prune_scope="layerwise", executor="local", export=False))
    self.assertEqual(built.train.duration, config.Duration(300, "it"))
    self.assertEqual(built.train.learning_rate, 0.05)
    self.assertIs(built.data.augment, False)
    self.assertEqual(built.data.synthetic_shape, (8, 8))
    self.assertEqual(built.train.milestones,
                     (config.Duration(2, "ep"), config.Duration(100, "it")))
    self.assertEqual(built.pruning.layer_fractions,
                     (("logits", 0.1), ("fc.*", 0.3)))
    self.assertEqual(built.executor.name, "local")
    self.assertFalse(built.export.saved_model)
    self.assertEqual(settings.from_dict(settings.to_dict(built)), built)

  def test_no_library_module_speaks_of_flags(self):
    found = []
    for path in glob.glob(os.path.join(testing.ROOT, "kdticket_tf", "**",
                                       "*.py"), recursive=True):
      if path.endswith((os.path.join("kdticket_tf", "train.py"),
                        os.path.join("kdticket_tf", "config", "flags.py"))):
        continue  # the CLI and the flags' definitions
      with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
          if re.search(r"--[a-z]", line):
            found.append(f"{os.path.relpath(path, testing.ROOT)}:{number}")
    self.assertEqual(found, [])

  @parameterized.named_parameters(
      ("fraction", lambda: config.PruningConfig(fraction=1.5),
       dict(prune_fraction=1.5), "PruningConfig.fraction=1.5",
       "--prune_fraction=1.5 must be strictly between 0 and 1."),
      ("alpha", lambda: config.DistillConfig(alpha=2.0), dict(kd_alpha=2.0),
       "DistillConfig.alpha=2.0", "--kd_alpha=2.0 must be in [0, 1]."),
      ("scope", lambda: config.PruningConfig(scope="row"),
       dict(prune_scope="row"), "PruningConfig.scope='row'",
       "--prune_scope='row' is not supported; choose one of: 'global', "
       "'layerwise'."),
      ("milestones", lambda: config.TrainConfig(lr_schedule="step"),
       dict(lr_schedule="step"), "TrainConfig.milestones",
       "--lr_schedule='step' needs --lr_milestones"),
      ("rewind_step", lambda: config.PruningConfig(
          rewind_step=config.Duration.parse("9", "PruningConfig.rewind_step")),
       dict(rewind_step="9"), "PruningConfig.rewind_step='9'",
       "--rewind_step='9' is not a duration"),
      ("executor", lambda: config.ExecutorConfig(workers=0),
       dict(workers=0), "ExecutorConfig.workers=0",
       "--workers=0 must be 1 or more."),
  )
  def test_errors_name_the_field_in_python_and_the_flag_on_the_command_line(
      self, build, flag_values, library_words, command_line_words):
    with self.assertRaises(ValueError) as raised:
      build()
    self.assertIn(library_words, str(raised.exception))
    self.assertNotIn("--", str(raised.exception))
    with self.assertRaises(ValueError) as raised:
      settings.config_from_flags(_flags(**flag_values))
    self.assertIn(command_line_words, settings.in_flag_words(
        str(raised.exception)))

  def test_the_length_is_given_exactly_once(self):
    with self.assertRaisesRegex(ValueError, "TrainConfig.duration needs "
                                "exactly one length"):
      settings.config_from_flags(_flags(epochs=2, train_steps=10))
    self.assertEqual(settings.in_flag_words("TrainConfig.duration=0ep"),
                     "--epochs/--train_steps=0ep")

  def test_neutral_settings_and_hparam_columns_come_from_the_fields(self):
    self.assertTrue({"train.verbose", "pruning.levels", "recipes",
                     "train.steps_per_execution", "export.saved_model",
                     "distribute.strategy", "executor.workers"}
                    <= settings.neutral_paths())
    self.assertNotIn("train.seed", settings.neutral_paths())
    self.assertEqual(settings.hparam_paths(), [
        "train.optimizer", "train.learning_rate", "train.seed",
        "pruning.schedule", "pruning.fraction", "pruning.scope",
        "pruning.rewind_step", "pruning.structure",
        "pruning.channel_criterion", "distill.alpha",
        "distill.temperature"])
    recorded = settings.to_dict(config.LotteryConfig())
    current = settings.to_dict(config.LotteryConfig(
        recipes=("lt", "rewind"),
        executor=config.ExecutorConfig(name="local")))
    self.assertEqual(recorded_lib.differences(recorded, current), [])

  def test_the_trainer_config_comes_from_its_flags(self):
    flags.FLAGS(["train", "--workdir=unused", "--epochs=3", "--lr=0.2",
                 "--recipes=lt,kd"])
    try:
      built = trainer_flags.config_from_flags()
    finally:
      flags.FLAGS.unparse_flags()
    self.assertEqual((built.train.duration, built.train.learning_rate,
                      built.recipes),
                     (config.Duration(3, "ep"), 0.2, ("lt", "kd")))


if __name__ == "__main__":
  tf.test.main()
