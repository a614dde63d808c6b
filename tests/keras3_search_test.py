"""Searches of Keras 3 models: `find_tickets` and `run_instability` end to end.

A script that imports `keras` first builds a functional ConvNet (Conv2D,
BatchNormalization, a residual Add, GlobalAveragePooling2D, Dense) and a
Sequential MLP and runs `find_tickets` with `lt` and `kd` on each. Every
exported ticket has a `model.keras` that `ticket.json` names and a plain Keras
3 process loads: it holds the ticket's weights exactly (its zeros included)
and predicts what the ticket's SavedModel does, within 1e-5. A Keras 3 model
with a layer outside the allowlist, or a softmax output, is refused before
anything trains, naming it. A rerun resumes with the names Keras gave the
layers, and `run_instability` takes a Keras 3 model too.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import tensorflow as tf

import kdticket_tf
from kdticket_tf import api
from kdticket_tf.keras3 import boundary
from kdticket_tf.keras3 import translate
from tests import testing

L = keras.layers

# The user's models, as their own module holds them (imported by the script
# and by this test, which rebuilds them to read the tickets' weights).
_MODELS = textwrap.dedent("""\
    import keras

    L = keras.layers


    def convnet():
      inputs = keras.Input((8, 8, 3))
      x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
      x = L.BatchNormalization()(x)
      x = L.Add()([x, L.Conv2D(8, 3, padding="same")(x)])
      x = L.GlobalAveragePooling2D()(x)
      return keras.Model(inputs, L.Dense(3)(x))


    def mlp():
      return keras.Sequential([keras.Input((12,)),
                               L.Dense(32, activation="relu"),
                               L.Dense(3)])
    """)
_SCRIPT = textwrap.dedent("""\
    import keras  # the user's Keras 3, first
    import json
    import numpy as np
    import tensorflow as tf
    import kdticket_tf
    import user_models

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=96)
    found = {}
    for name, shape in (("convnet", (8, 8, 3)), ("mlp", (12,))):
      inputs = rng.normal(size=(96,) + shape).astype("float32")
      inputs[np.arange(96), ..., labels] += 2.0  # learnable classes
      train = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(32)
      rows = kdticket_tf.find_tickets(
          getattr(user_models, name), train, train, name,
          recipes=("lt", "kd"),
          train=kdticket_tf.TrainConfig(
              duration=kdticket_tf.Duration(1, "ep"), verbose=0),
          pruning=kdticket_tf.PruningConfig(levels=1))
      found[name] = [(row["recipe"], row["level"]) for row in rows]
    print(json.dumps({"rows": found, "keras": keras.__version__}))
    """)
_STAGES = (("dense", 0), ("lt", 1), ("kd", 1))


def _stage_weights(workdir, recipe, level, model):
  """The stage's final weights in the tf_keras translation of `model`."""
  translated = translate.translate(model)
  kdticket_tf.load_model_weights(
      testing.stage_file(workdir, recipe, level, "final.weights.npz"),
      translated)
  return translated


class Keras3SearchTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = os.path.join(tf.compat.v1.test.get_temp_dir(), "keras3_user")
    os.makedirs(cls.folder, exist_ok=True)
    for name, text in (("user_models.py", _MODELS), ("search.py", _SCRIPT)):
      with open(os.path.join(cls.folder, name), "w", encoding="utf-8") as f:
        f.write(text)
    cls.result = subprocess.run(
        [sys.executable, "search.py"], cwd=cls.folder,
        env=dict(os.environ, PYTHONPATH=testing.ROOT),
        capture_output=True, text=True, timeout=600, check=False)
    sys.path.insert(0, cls.folder)
    import user_models  # pylint: disable=g-import-not-at-top,import-error
    cls.models = user_models

  def test_both_models_are_searched_with_lt_and_kd(self):
    self.assertEqual(self.result.returncode, 0, self.result.stderr[-3000:])
    printed = json.loads(self.result.stdout.strip().splitlines()[-1])
    self.assertEqual(printed["keras"], keras.__version__)
    self.assertEqual(printed["rows"], {name: [list(s) for s in _STAGES]
                                       for name in ("convnet", "mlp")})

  def test_keras_tickets_hold_the_tickets_and_predict_as_saved_models(self):
    self.assertEqual(self.result.returncode, 0, self.result.stderr[-3000:])
    rng = np.random.default_rng(1)
    for name, shape in (("convnet", (8, 8, 3)), ("mlp", (12,))):
      workdir = os.path.join(self.folder, name)
      layout = kdticket_tf.Layout(workdir)
      keys = [kdticket_tf.StageKey(*stage) for stage in _STAGES]
      for key in keys:
        self.assertEqual(kdticket_tf.read_ticket(
            layout.serving_path(key))["keras_file"], "model.keras")
      inputs = rng.normal(size=(6,) + shape).astype(np.float32)
      printed, loaded = testing.load_in_keras3(
          [layout.keras_file(key) for key in keys], inputs,
          tempfile.mkdtemp(dir=self.get_temp_dir()))
      self.assertEqual(printed, f"{keras.__version__} []")
      for key, (outputs, weights) in zip(keys, loaded):
        with self.subTest(model=name, stage=str(key)):
          boundary.start_build(0)  # the run's seed and layer names
          ticket = _stage_weights(workdir, key.recipe, key.level,
                                  getattr(self.models, name)())
          for layer in ticket.layers:
            for index, value in enumerate(layer.get_weights()):
              self.assertAllEqual(weights[f"{layer.name}/{index}"], value)
          report = kdticket_tf.read_ticket(layout.serving_path(key))["layers"]
          for layer_name, entry in report.items():
            self.assertEqual(np.count_nonzero(weights[f"{layer_name}/0"]),
                             entry["nonzero"])
          if key.level:
            self.assertLess(sum(e["nonzero"] for e in report.values()),
                            sum(e["weights"] for e in report.values()))
          served = tf.saved_model.load(layout.serving_path(key)).signatures[
              kdticket_tf.SIGNATURE](images=tf.constant(inputs))["logits"]
          self.assertAllClose(outputs, served, atol=1e-5, rtol=0)

  def test_a_layer_outside_the_allowlist_is_refused_before_training(self):
    workdir = os.path.join(self.get_temp_dir(), "refused")
    train = testing.user_dataset(
        lambda x, y: (tf.reshape(x, (3, 4)), y))
    for make, name in ((lambda: L.LSTM(8, name="memory"), "LSTM"),
                       (lambda: L.Lambda(tf.nn.relu, name="memory"),
                        "Lambda")):
      def model_fn(make=make):
        return keras.Sequential([keras.Input((3, 4)), make(),
                                 L.Dense(testing.USER_CLASSES)], name="rnn")
      with self.subTest(name):
        with self.assertRaisesRegex(
            ValueError, f"^model_fn's Keras 3 model 'rnn' has layer 'memory' "
            f"of class {name}, which kdticket_tf cannot translate to "
            "tf_keras .*; it translates Keras 3's own InputLayer, Dense, "
            "Conv1D, Conv2D"):
          kdticket_tf.find_tickets(model_fn, train, train, workdir)
        self.assertFalse(os.path.exists(os.path.join(workdir, "dense")))

  def test_a_softmax_output_is_refused_as_for_tf_keras(self):
    def model_fn():
      return keras.Sequential([
          keras.Input((testing.USER_FEATURES,)),
          L.Dense(testing.USER_CLASSES, name="probabilities"), L.Softmax()])
    data = testing.user_dataset()
    with self.assertRaisesRegex(
        ValueError, r"^model_fn's output layer 'softmax' has a softmax "
        "activation; find_tickets needs logits"):
      kdticket_tf.find_tickets(model_fn, data, data,
                               os.path.join(self.get_temp_dir(), "softmax"))

  def test_a_rerun_resumes_with_the_names_keras_gave_the_layers(self):
    # Keras 3 names unnamed layers by counting those built so far: each build
    # must name them as the first did (keep_dense, masks and rows use them).
    def model_fn():
      return keras.Sequential([keras.Input((testing.USER_FEATURES,)),
                               L.Dense(16, activation="relu"),
                               L.Dense(testing.USER_CLASSES)])
    data = testing.user_dataset()
    workdir = os.path.join(self.get_temp_dir(), "rerun")
    settings = dict(
        train=kdticket_tf.TrainConfig(duration=kdticket_tf.Duration(1, "ep"),
                                      verbose=0),
        pruning=kdticket_tf.PruningConfig(levels=1, keep_dense=("dense_1",)),
        export=kdticket_tf.ExportConfig(saved_model=False))
    first = kdticket_tf.find_tickets(model_fn, data, data, workdir, **settings)
    model_fn(), model_fn()  # the user builds more models in between
    again = kdticket_tf.find_tickets(model_fn, data, data, workdir, **settings)
    self.assertEqual(again, first)
    metrics = os.path.join(workdir, "lt", "level_01", "metrics.json")
    with open(metrics, encoding="utf-8") as stream:
      self.assertEqual(list(json.load(stream)["layers"]), ["dense"])

  def test_run_instability_takes_a_keras3_model(self):
    config = testing.tiny_config(("lt",), schedule="oneshot", levels=1,
                                 epochs=1)
    config = dataclasses.replace(config, analysis=kdticket_tf.AnalysisConfig(
        name="instability", points=3, steps=(kdticket_tf.Duration(0, "it"),)))

    def model_fn():
      return keras.Sequential([keras.Input(testing.SHAPE),
                               L.Dense(16, activation="relu"), L.Dense(4)])
    rows = api.run_instability(config, os.path.join(self.get_temp_dir(),
                                                    "instability"),
                               testing.tiny_data(), model_fn)
    self.assertLen(rows, 1)
    self.assertLen(rows[0]["errors"], 3)


if __name__ == "__main__":
  tf.test.main()
