"""A training whose numbers become NaN or Inf stops the search, saying why.

* `StopOnNonFinite`: a NaN loss, a NaN weight under a finite loss (TensorFlow's
  fused ReLU turns a NaN input into 0), NaN evaluation data; each in one
  sentence naming the network, the step and the likely causes.
* Through a search: NaN training inputs stop it with that sentence and record
  no finished stage; a rerun on the fixed data resumes from the last finite
  epoch to the results of a run that never saw them. A ticket whose learning
  rate is too high stops it and the stages before are kept; NaN test data is
  refused at evaluation, naming the stage.
"""

import dataclasses
import json
import os
import re

import numpy as np
import tensorflow as tf
import tf_keras as keras

import kdticket_tf
from kdticket_tf import config
from kdticket_tf.training import divergence
from kdticket_tf.training import fit as training
from tests import testing

# What follows the stage and the step in every divergence error.
_CAUSES = ("; the likely causes are NaN or Inf in the inputs (fix them and "
           "rerun to resume) or a learning rate too high "
           "(TrainConfig.learning_rate=0.1; lower it in another workdir, or "
           "overwrite this one).")


def _train_data(nan_from_epoch=None):
  """`user_arrays` as a function of the epoch: 4 batches of 16 per epoch.

  From epoch `nan_from_epoch` on, one input value of the first batch is NaN.
  """
  inputs, labels = testing.user_arrays(64)
  broken = inputs.copy()
  broken[5, 3] = np.nan

  def epoch_data(epoch):
    nan = nan_from_epoch is not None and epoch >= nan_from_epoch
    return tf.data.Dataset.from_tensor_slices(
        (broken if nan else inputs, labels)).batch(16)
  return epoch_data


def _test_data(nan=False):
  inputs, labels = testing.user_arrays(64, seed=1)
  if nan:
    inputs[40, 0] = np.inf
  return tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(32)


def _find_tickets(workdir, train_data, test_data=None, levels=1):
  return kdticket_tf.find_tickets(
      testing.model_fn, train_data, test_data or _test_data(), workdir,
      recipes=("lt",),
      train=config.TrainConfig(duration=config.Duration(2, "ep"),
                               learning_rate=0.1, verbose=0,
                               deterministic=True),
      pruning=config.PruningConfig(levels=levels),
      export=config.ExportConfig(saved_model=False))


def _rows(workdir):
  with open(os.path.join(workdir, "results.json")) as stream:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in json.load(stream)]


class StopOnNonFiniteTest(tf.test.TestCase):

  def _train(self, loaded, learning_rate=0.1, evaluate=None):
    keras.utils.set_random_seed(0)
    model = testing.model_fn()
    settings = config.TrainConfig(duration=config.Duration(2, "ep"),
                                  learning_rate=learning_rate, verbose=0)
    folder = os.path.join(self.get_temp_dir(), "stage")
    return training.train(model, loaded, settings,
                          training.TrainingPlan(steps=16), folder,
                          training.compile_classifier,
                          evaluate=evaluate, name="kd/level_02"), folder

  def test_an_exploding_learning_rate_stops_at_the_epoch_s_end(self):
    loaded = testing.tiny_data()  # 8 steps per epoch
    with self.assertRaises(divergence.TrainingDivergedError) as raised:
      self._train(loaded, learning_rate=1e30)
    message = str(raised.exception)
    self.assertRegex(message, r"^Training of kd/level_02 diverged at step 8 "
                     r"\((the loss became (nan|inf)|its weight \S+ became NaN "
                     r"or Inf)\); the likely causes")
    self.assertIn("(TrainConfig.learning_rate=1e+30;", message)
    self.assertIsInstance(raised.exception, ValueError)
    folder = os.path.join(self.get_temp_dir(), "stage")
    self.assertFalse(os.path.exists(os.path.join(folder, "checkpoints")))

  def test_nan_weights_under_a_finite_loss_stop_the_training(self):
    # A NaN input: the fused ReLU gives 0, the loss stays finite, the first
    # kernel's row for that input becomes NaN.
    loaded = testing.tiny_data()
    inputs, labels = testing.user_arrays(64)
    inputs[0, 0] = np.nan
    nan_batches = tf.data.Dataset.from_tensor_slices(
        (inputs, labels)).batch(16).repeat()
    loaded = dataclasses.replace(loaded, train=_Stream(nan_batches, 4))
    with self.assertRaises(divergence.TrainingDivergedError) as raised:
      self._train(loaded)
    self.assertEqual(
        str(raised.exception),
        "Training of kd/level_02 diverged at step 4 (its weight fc1/kernel "
        "became NaN or Inf)" + _CAUSES)

  def test_nan_in_the_evaluation_data_stops_naming_the_data(self):
    loaded = testing.tiny_data()
    inputs, labels = testing.user_arrays(64)
    inputs[63, 2] = np.nan
    test = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(32)
    with self.assertRaises(divergence.NonFiniteDataError) as raised:
      self._train(loaded, evaluate={"test": test})
    self.assertEqual(
        str(raised.exception),
        "The test data holds NaN or Inf, found evaluating kd/level_02 at "
        "step 8; replace those values (np.nan_to_num) or drop their "
        "examples, and rerun to resume.")

  def test_a_finetune_rate_is_named_by_its_setting(self):
    self.assertEqual(divergence.learning_rate_setting(
        config.TrainConfig(), training.TrainingPlan(10, constant_lr=0.003)),
                     "PruningConfig.finetune_lr=0.003")


class _Stream:
  """A training stream of a repeated dataset (`stream` ignores the start)."""

  def __init__(self, dataset, steps_per_epoch):
    self._dataset = dataset
    self.steps_per_epoch = steps_per_epoch

  def stream(self, start_step=0, steps=None):
    del start_step, steps
    return self._dataset


class SearchStopsTest(tf.test.TestCase):

  def test_nan_inputs_stop_the_search_and_a_fixed_rerun_resumes(self):
    workdir = os.path.join(self.get_temp_dir(), "nan")
    with self.assertRaises(divergence.TrainingDivergedError) as raised:
      _find_tickets(workdir, _train_data(nan_from_epoch=1))
    self.assertEqual(
        str(raised.exception),
        "Training of dense diverged at step 8 (its weight fc1/kernel became "
        "NaN or Inf)" + _CAUSES)
    # No stage finished: no metrics, no results; the finite first epoch is
    # kept (its checkpoint and record), the diverged second one is not.
    dense = os.path.join(workdir, "dense")
    self.assertFalse(os.path.exists(os.path.join(dense, "metrics.json")))
    self.assertFalse(os.path.exists(os.path.join(workdir, "results.json")))
    self.assertEqual(sorted(os.listdir(os.path.join(dense, "epochs"))),
                     ["epoch_0001.json"])
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(dense,
                                                             "checkpoints")),
                     os.path.join(dense, "checkpoints", "ckpt-1"))
    with open(os.path.join(dense, "epochs", "epoch_0001.json")) as stream:
      first_epoch = json.load(stream)
    # The data fixed, the rerun resumes from epoch 1 and ends where a run
    # that never saw the NaN ends.
    resumed = _find_tickets(workdir, _train_data())
    with open(os.path.join(dense, "metrics.json")) as stream:
      self.assertEqual(json.load(stream)["history"][:1], first_epoch)
    reference = os.path.join(self.get_temp_dir(), "reference")
    expected = _find_tickets(reference, _train_data())
    self.assertLen(resumed, 2)
    self.assertEqual(_rows(workdir), _rows(reference))
    self.assertEqual(testing.npz_differences(reference, workdir), [])
    self.assertEqual([r["test_accuracy"] for r in resumed],
                     [r["test_accuracy"] for r in expected])

  def test_a_diverging_ticket_stops_the_search_and_keeps_earlier_stages(self):
    workdir = os.path.join(self.get_temp_dir(), "finetune")
    settings = testing.tiny_config(("lt", "finetune"), levels=1)
    settings = dataclasses.replace(settings, pruning=dataclasses.replace(
        settings.pruning, finetune_lr=1e30))
    with self.assertRaises(divergence.TrainingDivergedError) as raised:
      kdticket_tf.run_lottery(settings, workdir, data=testing.tiny_data(),
                              model_fn=testing.model_fn)
    self.assertRegex(
        str(raised.exception),
        r"^Training of finetune/level_01 diverged at step 8 \(.*\); the "
        r"likely causes .* \(PruningConfig.finetune_lr=1e\+30; lower it")
    self.assertEqual([(r["recipe"], r["level"], r["status"])
                      for r in _rows(workdir)],
                     [("dense", 0, "done"), ("lt", 1, "done")])
    self.assertFalse(os.path.exists(testing.stage_file(
        workdir, "finetune", 1, "metrics.json")))

  def test_nan_test_data_is_refused_at_evaluation(self):
    workdir = os.path.join(self.get_temp_dir(), "test_nan")
    with self.assertRaisesRegex(
        divergence.NonFiniteDataError,
        "^" + re.escape("The test data holds NaN or Inf, found evaluating "
                        "dense at step 4; replace those values")):
      _find_tickets(workdir, _train_data(), _test_data(nan=True), levels=0)
    self.assertFalse(os.path.exists(os.path.join(workdir, "dense",
                                                 "metrics.json")))


if __name__ == "__main__":
  tf.test.main()
