"""The package API: `find_tickets` on a user's own model and datasets.

The mistakes a Keras user makes, each refused before anything trains, are in
checks_test; the command line's path through `api.prepare` in train_test.
"""

import os
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras

import kdticket_tf
from kdticket_tf.store import artifacts
from kdticket_tf.training import fit as training
from tests import testing


def _user_data():
  """Three separable classes: (train, test) `tf.data` datasets."""
  rng = np.random.default_rng(0)
  prototypes = rng.normal(size=(3, 10)).astype(np.float32)
  labels = rng.integers(0, 3, size=300)
  inputs = prototypes[labels] + 0.3 * rng.normal(size=(300, 10)).astype(
      np.float32)
  train = tf.data.Dataset.from_tensor_slices((inputs[:240], labels[:240]))
  train = train.shuffle(240, seed=0).batch(24)
  test = tf.data.Dataset.from_tensor_slices(
      (inputs[240:], labels[240:])).batch(60)
  return train, test


def user_model():
  """A user's model whose layers Keras names (dense, dense_1, ...)."""
  return keras.Sequential([keras.Input((10,)),
                           keras.layers.Dense(16, activation="relu"),
                           keras.layers.Dense(3)])


class _Interrupted(Exception):
  pass


class _InterruptSecondEpoch(keras.callbacks.Callback):

  def on_epoch_end(self, epoch, logs=None):
    if epoch == 1:  # after the first epoch's checkpoint, before the second's
      raise _Interrupted()


class FindTicketsTest(tf.test.TestCase):

  def test_find_tickets_on_user_model_and_datasets(self):
    train, test = _user_data()
    workdir = os.path.join(self.get_temp_dir(), "user")
    rows = kdticket_tf.find_tickets(
        user_model, train, test, workdir, recipes=("lt", "rewind"),
        train=kdticket_tf.TrainConfig(duration=kdticket_tf.Duration(4, "ep"),
                                      learning_rate=0.1, verbose=0),
        pruning=kdticket_tf.PruningConfig(levels=2,
                                          rewind_step=kdticket_tf.Duration(5, "it")),
        export=kdticket_tf.ExportConfig(saved_model=False))
    self.assertFalse(os.path.exists(os.path.join(workdir, "export")))
    self.assertEqual([(r["recipe"], r["level"]) for r in rows],
                     [("dense", 0), ("lt", 1), ("rewind", 1), ("lt", 2),
                      ("rewind", 2)])
    self.assertGreater(rows[0]["test_accuracy"], 0.9)
    self.assertTrue(os.path.exists(os.path.join(workdir, "results.csv")))

  def test_a_stage_interrupted_midway_resumes_with_the_same_layer_names(self):
    # The model's layers are named by Keras, which counts the layers built so
    # far: the resumed stage's build must name them as the first run did
    # (its masks, thresholds and per-layer rows use those names).
    train, test = _user_data()
    workdir = os.path.join(self.get_temp_dir(), "resumed")
    settings = dict(
        recipes=("lt",),
        train=kdticket_tf.TrainConfig(duration=kdticket_tf.Duration(3, "ep"),
                                      learning_rate=0.1, verbose=0),
        pruning=kdticket_tf.PruningConfig(levels=1),
        export=kdticket_tf.ExportConfig(saved_model=False))
    original = training.train

    def interrupted(*args, callbacks=(), **kwargs):
      folder = args[4] if len(args) > 4 else kwargs["folder"]
      if os.path.basename(folder) == "level_01":
        callbacks = (*callbacks, _InterruptSecondEpoch())
      return original(*args, callbacks=callbacks, **kwargs)

    with mock.patch.object(training, "train", side_effect=interrupted):
      with self.assertRaises(_Interrupted):
        kdticket_tf.find_tickets(user_model, train, test, workdir, **settings)
    stage = os.path.join(workdir, "lt", "level_01")
    self.assertEqual(os.listdir(os.path.join(stage, "epochs")),
                     ["epoch_0001.json"])
    user_model(), user_model()  # the user builds more models in between
    rows = kdticket_tf.find_tickets(user_model, train, test, workdir,
                                    **settings)
    self.assertEqual([(r["recipe"], r["status"]) for r in rows],
                     [("dense", "done"), ("lt", "done")])
    layers = artifacts.read_json(os.path.join(stage, "metrics.json"))["layers"]
    thresholds = artifacts.read_json(os.path.join(stage, "thresholds.json"))
    self.assertEqual(list(layers), list(thresholds))
    self.assertEqual(list(layers), ["dense", "dense_1"])
    for name, value in thresholds.items():
      self.assertEqual(layers[name]["threshold"], value)

  def test_settings_that_cannot_run_are_refused_before_any_training(self):
    train = tf.data.Dataset.from_tensor_slices(
        (np.zeros((64, 12), np.float32), np.zeros(64, np.int64))).batch(16)
    cases = (
        ("cache_teacher_logits", dict(
            recipes=("lt", "kd"), augmented=False,
            distill=kdticket_tf.DistillConfig(cache_teacher_logits=True))),
        ("teacher", dict(
            recipes=("kd",),
            distill=kdticket_tf.DistillConfig(teacher="/no/teacher.npz"))),
        ("layer_fractions", dict(pruning=kdticket_tf.PruningConfig(
            scope="layerwise", layer_fractions=(("output", 0.1),)))),
    )
    for message, settings in cases:
      with mock.patch.object(training, "train") as trained:
        with self.assertRaisesRegex(ValueError, message):
          kdticket_tf.find_tickets(
              testing.model_fn, train, train, os.path.join(self.get_temp_dir(),
                                                   message), **settings)
      trained.assert_not_called()


if __name__ == "__main__":
  tf.test.main()
