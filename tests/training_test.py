"""Tests of the training loop: plans, optimizers, checkpoints and resume."""

import contextlib
import gc
import logging
import os
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf.training import distill
from kdticket_tf.training import fit as training


def _setup(folder, layers=1):
  keras.utils.set_random_seed(0)
  loaded = data.load(config.DataConfig(
      dataset="synthetic", synthetic_shape=(6,), synthetic_classes=3,
      synthetic_examples=64, batch_size=16, eval_batch_size=32))
  inputs = outputs = keras.Input((6,))
  for _ in range(layers):
    outputs = keras.layers.Dense(3)(outputs)
  model = keras.Model(inputs, outputs)
  train_config = config.TrainConfig(duration=config.Duration(10, "it"),
                                    verbose=0)
  return loaded, model, train_config, folder


class TrainingTest(tf.test.TestCase):

  def test_clip_norm_bounds_each_step(self):
    loaded, model, _, _ = _setup(self.get_temp_dir())
    settings = config.TrainConfig(optimizer="sgd", momentum=0.0,
                                  clip_norm=0.01)
    training.compile_classifier(model, training.make_optimizer(settings, 1.0))
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(*next(iter(loaded.train.stream(0))))
    moved = np.sqrt(sum(np.sum((w.numpy() - b)**2)
                        for w, b in zip(model.trainable_weights, before)))
    self.assertAllClose(moved, 0.01, rtol=1e-4)  # lr 1 x the clipped norm

  def test_the_train_function_is_traced_once(self):
    # The optimizer's slots exist before fit: no variable is created inside
    # the first trace, so TensorFlow does not trace the step again.
    loaded, model, _, _ = _setup(self.get_temp_dir())
    settings = config.TrainConfig(optimizer="sgd", momentum=0.9)
    training.compile_classifier(model, training.make_optimizer(settings, 0.1))
    model.fit(loaded.train.stream(0), steps_per_epoch=4, epochs=2, verbose=0)
    self.assertEqual(model.train_function.experimental_get_tracing_count(), 1)

  def test_partial_last_epoch_and_history(self):
    loaded, model, train_config, folder = _setup(self.get_temp_dir())
    history = training.train(model, loaded, train_config,
                             training.TrainingPlan(steps=10), folder,
                             training.compile_classifier,
                             evaluate={"test": loaded.test})
    # 4 steps per epoch: 4 + 4 + 2.
    self.assertEqual([h["epoch"] for h in history], [1, 2, 3])
    self.assertEqual(int(model.optimizer.iterations), 10)
    self.assertIn("test_accuracy", history[0])

  def test_evaluation_every_n_epochs_and_at_the_last(self):
    loaded, model, _, folder = _setup(self.get_temp_dir())
    settings = config.TrainConfig(duration=config.Duration(18, "it"),
                                  eval_every=2, verbose=0)
    history = training.train(model, loaded, settings,
                             training.TrainingPlan(steps=18), folder,
                             training.compile_classifier,
                             evaluate={"test": loaded.test})
    # 4 steps per epoch: epochs 1-4 and a last one of 2 steps.
    self.assertEqual([h["epoch"] for h in history if "test_accuracy" in h],
                     [2, 4, 5])

  def test_corrupt_checkpoint_is_reported_by_path(self):
    loaded, model, train_config, folder = _setup(
        os.path.join(self.get_temp_dir(), "corrupt"))
    plan = training.TrainingPlan(steps=10)
    with self.assertRaises(KeyboardInterrupt):
      training.train(model, loaded, train_config, plan, folder,
                     training.compile_classifier,
                     callbacks=[_Interrupt(after_epoch=1)])
    data_files = [os.path.join(folder, "checkpoints", n)
                  for n in os.listdir(os.path.join(folder, "checkpoints"))
                  if ".data-" in n]
    for path in data_files:
      with open(path, "r+b") as stream:
        stream.truncate(3)
    _, model, _, _ = _setup(folder)
    with self.assertRaisesRegex(ValueError, "checkpoints/ckpt-1 cannot be "
                                "restored"):
      training.train(model, loaded, train_config, plan, folder,
                     training.compile_classifier)

  def test_constant_lr_and_offset_schedule(self):
    train_config = config.TrainConfig(lr_schedule="cosine")
    self.assertEqual(training.make_schedule(
        train_config, 10, training.TrainingPlan(steps=5, constant_lr=0.01)),
                     0.01)
    schedule = training.make_schedule(
        train_config, 10, training.TrainingPlan(steps=5, schedule_offset=7))
    self.assertEqual(schedule.offset, 7)
    self.assertEqual(schedule.total_steps, 20)

  def test_weight_decay_loss_value(self):
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(np.array([[3.0], [4.0]], np.float32))
    training.add_weight_decay(model, 0.1)
    self.assertAllClose(tf.add_n(model.losses), 0.5 * 0.1 * 25.0)


# What TensorFlow logs when a restored checkpoint held values that found no
# variable (or the reverse), once Python collects the restore's status.
_CHECKPOINT_WARNINGS = ("unrestored values", "Unresolved object in checkpoint",
                        "could not be found in the restored object",
                        "could not be found in the checkpoint")


@contextlib.contextmanager
def _tensorflow_warnings():
  """Collects the messages TensorFlow's logger warns of inside the block."""
  messages = []
  handler = logging.Handler(logging.WARNING)
  handler.emit = lambda record: messages.append(record.getMessage())
  logger = tf.get_logger()
  logger.addHandler(handler)
  try:
    yield messages
  finally:
    logger.removeHandler(handler)


def _checkpoint_warnings(messages):
  return [m for m in messages if any(w in m for w in _CHECKPOINT_WARNINGS)]


class ResumeTest(tf.test.TestCase, parameterized.TestCase):
  """A resumed training restores its checkpoint whole; TF warns of nothing."""

  def _train(self, folder, distiller=False, layers=1, callbacks=()):
    loaded, model, train_config, _ = _setup(folder, layers)
    compile_fn = training.compile_classifier
    if distiller:
      _, teacher, _, _ = _setup(folder, layers)
      model = distill.Distiller(model, teacher)
      compile_fn = distill.compile_distiller
    history = training.train(model, loaded, train_config,
                             training.TrainingPlan(steps=10), folder,
                             compile_fn, callbacks=callbacks)
    return model, history

  @parameterized.named_parameters(("classifier", False), ("distiller", True))
  def test_a_resumed_training_restores_everything_and_warns_of_nothing(
      self, distiller):
    folder = os.path.join(self.get_temp_dir(), f"resumed_{distiller}")
    with self.assertRaises(KeyboardInterrupt):
      self._train(folder, distiller, callbacks=[_Interrupt(after_epoch=1)])
    statuses = []
    restore = tf.train.Checkpoint.restore

    def kept(checkpoint, *args, **kwargs):
      statuses.append(restore(checkpoint, *args, **kwargs))
      return statuses[-1]

    with _tensorflow_warnings() as messages:
      with mock.patch.object(tf.train.Checkpoint, "restore", autospec=True,
                             side_effect=kept):
        model, history = self._train(folder, distiller)
      # Every value of the checkpoint found its variable and the reverse:
      # nothing is left for TensorFlow to warn of when the status goes.
      [status] = statuses
      status.assert_consumed()
      self.assertEqual([h["epoch"] for h in history], [1, 2, 3])
      self.assertEqual(int(model.optimizer.iterations), 10)
      del model, status, statuses[:]
      gc.collect()
    self.assertEqual(_checkpoint_warnings(messages), [])

  def test_a_checkpoint_of_another_network_is_refused_without_warnings(self):
    # A checkpoint of two layers, resumed as one: the first layer's values
    # would fit, the second's would be left over.
    folder = os.path.join(self.get_temp_dir(), "other_network")
    with self.assertRaises(KeyboardInterrupt):
      self._train(folder, layers=2, callbacks=[_Interrupt(after_epoch=1)])
    with _tensorflow_warnings() as messages:
      with self.assertRaises(ValueError) as refused:
        self._train(folder, layers=1)
      message = str(refused.exception)
      del refused  # and with it the frames that hold the restore's status
      gc.collect()
    self.assertEqual(
        message,
        f"Checkpoint {folder}/checkpoints/ckpt-1 cannot be restored "
        "(Unresolved object in checkpoint (root).model.layer_with_weights-1"
        f".kernel); delete {folder}/checkpoints to restart this training.")
    self.assertEqual(_checkpoint_warnings(messages), [])


class _Interrupt(keras.callbacks.Callback):

  def __init__(self, after_epoch):
    super().__init__()
    self._after = after_epoch

  def on_epoch_begin(self, epoch, logs=None):
    if epoch >= self._after:
      raise KeyboardInterrupt("simulated crash")


if __name__ == "__main__":
  tf.test.main()
