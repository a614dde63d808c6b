"""Tests of `models/user_function.py`: a user's model as `--model=module:function`.

A small user module (a tf_keras MLP and functions that go wrong) is written to
a temporary folder; the command line runs `configs/smoke.flags` on it with the
folder on PYTHONPATH, then again with the same flags (it resumes), and with
local worker processes started from the folder the module is in.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import keras as keras3
import tensorflow as tf
import tf_keras as keras
from absl import flags
from absl.testing import parameterized

from kdticket_tf import models
from kdticket_tf import train
from kdticket_tf.config import lottery as lottery_config
from kdticket_tf.config import settings
from kdticket_tf.models import user_function
from tests import testing

MODULE = "kdt_user_models"
SMOKE = os.path.join(testing.ROOT, "configs", "smoke.flags")

USER_MODULE = '''"""A user's own models, written as a user writes them."""
import tf_keras as keras

WIDTH = 24


def build(input_shape, num_classes):
  inputs = keras.Input(input_shape, name="image")
  x = keras.layers.Flatten(name="flatten")(inputs)
  x = keras.layers.Dense(WIDTH, activation="relu", name="hidden")(x)
  return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))


def raises(input_shape, num_classes):
  raise ValueError(f"no stem for {len(input_shape)}-D images\\nsecond line")


def returns_none(input_shape, num_classes):
  build(input_shape, num_classes)


def one_argument(input_shape):
  return build(input_shape, 10)


_BUILT = []


def same_model(input_shape, num_classes):
  if not _BUILT:
    _BUILT.append(build(input_shape, num_classes))
  return _BUILT[0]


def softmax_output(input_shape, num_classes):
  inputs = keras.Input(input_shape)
  x = keras.layers.Flatten()(inputs)
  outputs = keras.layers.Dense(num_classes, activation="softmax",
                               name="probabilities")(x)
  return keras.Model(inputs, outputs)
'''

KERAS3_MODULE = '''"""A user's model in Keras 3."""
import keras


def build(input_shape, num_classes):
  inputs = keras.Input(input_shape)
  x = keras.layers.Dense(8, activation="relu")(inputs)
  return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
'''

BROKEN_MODULE = "import kdt_no_such_dependency\n"

ACCEPTED = ("give package.module:function for a function taking (input_shape, "
            "num_classes) and returning a Keras model.")

# (case, name, the whole message). `_models` is the test's own module name.
BAD_NAMES = (
    ("empty_function", f"{MODULE}:",
     f"ModelConfig.name='{MODULE}:' is not a module:function name (a dotted "
     f"module name, a colon, a function name); {ACCEPTED}"),
    ("empty_module", ":build",
     "ModelConfig.name=':build' is not a module:function name (a dotted "
     f"module name, a colon, a function name); {ACCEPTED}"),
    ("a_file_path", "models/mine.py:build",
     "ModelConfig.name='models/mine.py:build' is not a module:function name "
     f"(a dotted module name, a colon, a function name); {ACCEPTED}"),
    ("no_colon", "my_models",
     "ModelConfig.name='my_models' is unknown; choose one of: "
     f"{', '.join(models.names())}, or {ACCEPTED}"),
    ("no_module", "kdt_no_such_module.sub:build",
     "ModelConfig.name='kdt_no_such_module.sub:build' names module "
     "kdt_no_such_module.sub, which is not on the Python path; run from the "
     "folder that holds kdt_no_such_module/sub.py, or add that folder to "
     "PYTHONPATH."),
    ("import_fails", "kdt_user_broken:build",
     "ModelConfig.name='kdt_user_broken:build' names module kdt_user_broken, "
     "whose import raised ModuleNotFoundError (No module named "
     "'kdt_no_such_dependency'); install what it imports, or fix the module."),
    ("no_function", f"{MODULE}:biuld",
     f"ModelConfig.name='{MODULE}:biuld' names no function biuld in module "
     f"{MODULE} (it defines build, one_argument, raises, returns_none, "
     f"same_model, softmax_output); {ACCEPTED}"),
    ("not_a_function", f"{MODULE}:WIDTH",
     f"ModelConfig.name='{MODULE}:WIDTH' names WIDTH in module {MODULE}, an "
     f"int, not a function; {ACCEPTED}"),
    ("wrong_parameters", f"{MODULE}:one_argument",
     f"ModelConfig.name='{MODULE}:one_argument' names "
     "one_argument(input_shape), which cannot be called as "
     "one_argument(input_shape, num_classes); give it those two parameters "
     "and return a Keras model."),
    ("raises", f"{MODULE}:raises",
     f"ModelConfig.name='{MODULE}:raises' raised ValueError (no stem for 3-D "
     "images) when called as raises((28, 28, 1), 10); fix the function so "
     "that it returns an uncompiled Keras model of logits."),
    ("returns_none", f"{MODULE}:returns_none",
     f"ModelConfig.name='{MODULE}:returns_none' returned None, not a Keras "
     "model, when called as returns_none((28, 28, 1), 10); return an "
     "uncompiled Sequential or functional model that outputs logits "
     "[batch, num_classes]."),
    ("same_model", f"{MODULE}:same_model",
     f"ModelConfig.name='{MODULE}:same_model' returned the same model object "
     "on two calls; build the model inside the function, a fresh one on each "
     "call (every stage trains its own)."),
)
# What the search's own model checks say of a model the function did build.
SOFTMAX = ("model_fn's output layer 'probabilities' has a softmax activation; "
           "find_tickets needs logits")
# Run as separate processes: the exit status, one line on stderr, no traceback.
IN_A_PROCESS = ("no_function", "returns_none")


def _write_modules(folder):
  for name, text in ((MODULE, USER_MODULE), ("kdt_user_keras3", KERAS3_MODULE),
                     ("kdt_user_broken", BROKEN_MODULE)):
    with open(os.path.join(folder, f"{name}.py"), "w") as stream:
      stream.write(text)


def _run_cli(*args, cwd=testing.ROOT, path=()):
  """Runs the trainer in a process with `path` on PYTHONPATH."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([testing.ROOT, *path]))
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  return subprocess.run(
      [sys.executable, "-m", "kdticket_tf.train", *args], cwd=cwd, env=env,
      capture_output=True, text=True, timeout=600, check=False)


def _run_here(workdir, args):
  """Runs the trainer's main in this process; returns (status, stderr)."""
  stderr = io.StringIO()
  flags.FLAGS(["train", f"--flagfile={SMOKE}", f"--workdir={workdir}", *args])
  try:
    with contextlib.redirect_stderr(stderr):
      return train.main(["train"]), stderr.getvalue()
  finally:
    flags.FLAGS.unparse_flags()


def _read_json(*parts):
  with open(os.path.join(*parts)) as stream:
    return json.load(stream)


class _UserModules(tf.test.TestCase):
  """Puts the user modules on this process's path for the class's tests."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_user_function_")
    _write_modules(cls.folder)
    sys.path.insert(0, cls.folder)

  @classmethod
  def tearDownClass(cls):
    sys.path.remove(cls.folder)
    for name in (MODULE, "kdt_user_keras3", "kdt_user_broken"):
      sys.modules.pop(name, None)
    super().tearDownClass()


class LoadTest(_UserModules, parameterized.TestCase):

  def test_builds_a_fresh_model_from_the_function_it_imports_once(self):
    config = lottery_config.ModelConfig(name=f"{MODULE}:build")
    first = models.build(config, [28, 28, 1], 10)
    second = models.build(config, (28, 28, 1), 10)
    self.assertIsNot(first, second)
    self.assertEqual(first.output_shape, (None, 10))
    self.assertEqual(first.get_layer("hidden").units, 24)
    self.assertIs(user_function.load(f"{MODULE}:build"),
                  sys.modules[MODULE].build)

  def test_a_keras3_model_is_handed_on_to_the_search_checks(self):
    model = models.build(
        lottery_config.ModelConfig(name="kdt_user_keras3:build"), (12,), 3)
    self.assertIsInstance(model, keras3.Model)
    self.assertNotIsInstance(model, keras.Model)

  @parameterized.named_parameters(*BAD_NAMES)
  def test_a_bad_name_is_refused_in_one_sentence(self, name, message):
    config = lottery_config.ModelConfig(name=name)
    with self.assertRaises(ValueError) as raised:
      models.build(config, (28, 28, 1), 10)
      models.build(config, (28, 28, 1), 10)  # the same model object again
    self.assertEqual(str(raised.exception), message)

  def test_the_command_line_names_the_flag(self):
    with self.assertRaises(ValueError) as raised:
      models.get(f"{MODULE}:biuld")
    self.assertStartsWith(settings.in_flag_words(str(raised.exception)),
                          f"--model='{MODULE}:biuld' names no function biuld")


class CommandLineTest(_UserModules, parameterized.TestCase):
  """`--model=module:function` on the smoke flagfile, as a user runs it."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = os.path.join(cls.folder, "search")
    cls.first = _run_cli(f"--flagfile={SMOKE}", f"--model={MODULE}:build",
                         f"--workdir={cls.workdir}", path=[cls.folder])

  def test_a_search_runs_on_the_users_model_and_a_rerun_resumes(self):
    self.assertEqual(self.first.returncode, 0, self.first.stderr)
    rows = _read_json(self.workdir, "results.json")
    self.assertEqual(
        sorted((r["recipe"], r["level"]) for r in rows),
        [("dense", 0), ("kd", 1), ("kd", 2), ("lt", 1), ("lt", 2),
         ("rewind", 1), ("rewind", 2)])
    self.assertEqual(_read_json(self.workdir, "config.json")["model"]["name"],
                     f"{MODULE}:build")
    layers = _read_json(self.workdir, "lt", "level_01", "metrics.json")[
        "layers"]
    self.assertEqual(layers["hidden"]["shape"], [784, 24])  # the user's layer
    weights = os.path.join(self.workdir, "lt", "level_02", "final.weights.npz")
    written = os.stat(weights).st_mtime_ns

    again = _run_cli(f"--flagfile={SMOKE}", f"--model={MODULE}:build",
                     f"--workdir={self.workdir}", path=[self.folder])

    self.assertEqual(again.returncode, 0, again.stderr)
    self.assertEqual(_read_json(self.workdir, "results.json"), rows)
    self.assertEqual(os.stat(weights).st_mtime_ns, written)  # not retrained

  def test_local_workers_import_the_module_from_the_coordinators_folder(self):
    workdir = os.path.join(self.folder, "local")
    # Run from the module's folder, with only the package on PYTHONPATH: the
    # workers rebuild the model from config.json's name on the same path.
    result = _run_cli(f"--flagfile={SMOKE}", f"--model={MODULE}:build",
                      f"--workdir={workdir}", "--executor=local",
                      "--workers=2", "--levels=1", "--recipes=lt",
                      cwd=self.folder)
    self.assertEqual(result.returncode, 0, result.stderr)
    accuracy = {(r["recipe"], r["level"]): r["test_accuracy"]
                for r in _read_json(workdir, "results.json")}
    sequential = {(r["recipe"], r["level"]): r["test_accuracy"]
                  for r in _read_json(self.workdir, "results.json")}
    self.assertEqual(accuracy, {key: sequential[key]
                                for key in (("dense", 0), ("lt", 1))})

  @parameterized.named_parameters(
      *[(case, case, name, settings.in_flag_words(message))
        for case, name, message in BAD_NAMES if ":" in name],
      ("softmax_output", "softmax_output", f"{MODULE}:softmax_output", SOFTMAX))
  def test_a_bad_model_is_refused_before_training(self, case, name, message):
    workdir = os.path.join(self.folder, "refused", case)
    if case in IN_A_PROCESS:
      result = _run_cli(f"--flagfile={SMOKE}", f"--model={name}",
                        f"--workdir={workdir}", path=[self.folder])
      status, stderr = result.returncode, result.stderr
      self.assertNotIn("Traceback", stderr)
      self.assertEqual(stderr.strip().splitlines(),
                       ["kdticket_tf.train: error: " + message])
    else:
      status, stderr = _run_here(workdir, [f"--model={name}"])
      self.assertIn(message, stderr)
    self.assertEqual(status, 1)
    self.assertFalse(os.path.exists(workdir))  # no stage folder, no lock


if __name__ == "__main__":
  tf.test.main()
