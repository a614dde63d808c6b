"""Trains one network with Keras `fit`: fresh optimizer, offset schedule, resume.

The loop is the same for the dense run and every retraining; what differs comes
in through a `TrainingPlan` (how many steps, where the LR schedule and the data
stream start, a constant LR) and through callbacks. Every epoch ends with a
checkpoint (model and optimizer) and a metrics record, so an interrupted training
continues from its last finished epoch with the same data order.
"""

import dataclasses
import os
import time
from typing import Optional

import tensorflow as tf
import tf_keras as keras

from kdticket_tf.store import artifacts
from kdticket_tf.training import divergence
from kdticket_tf.training import schedules


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
  """What one training run does.

  Attributes:
    steps: Optimizer steps to run.
    schedule_offset: The LR schedule's step at the optimizer's step 0.
    data_offset: The data stream's step at the optimizer's step 0.
    constant_lr: Train at this constant LR instead of the schedule.
  """
  steps: int
  schedule_offset: int = 0
  data_offset: int = 0
  constant_lr: Optional[float] = None


def build_optimizer(model, variables):
  """Creates the compiled optimizer's slots for `variables` before `fit`.

  Left to the first step, they are variables created inside the traced train
  function, which TensorFlow then traces a second time; a ResNet-20 stage
  starts about a second sooner without it.

  Args:
    model: A compiled model (its `optimizer`, loss-scaled or not).
    variables: The variables its train step updates, in that order.
  """
  model.optimizer.build(variables)


def compile_classifier(model, optimizer, **options):
  """Compiles a logits model with sparse cross-entropy and accuracy.

  Args:
    model: The model.
    optimizer: A fresh optimizer.
    **options: More `compile` arguments (`jit_compile`, `steps_per_execution`).
  """
  model.compile(
      optimizer=optimizer,
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
      **options)
  build_optimizer(model, model.trainable_variables)


def make_schedule(config, steps_per_epoch, plan):
  """Returns the learning rate (a schedule or a float) of `plan`.

  Args:
    config: The `TrainConfig`.
    steps_per_epoch: Steps per epoch, to convert durations.
    plan: The `TrainingPlan`.
  """
  if plan.constant_lr is not None:
    return plan.constant_lr
  return schedules.LotterySchedule(
      config.learning_rate, kind=config.lr_schedule,
      total_steps=config.total_steps(steps_per_epoch),
      milestones=[m.to_steps(steps_per_epoch) for m in config.milestones],
      decay=config.lr_decay,
      warmup_steps=config.warmup.to_steps(steps_per_epoch),
      offset=plan.schedule_offset)


def make_optimizer(config, learning_rate):
  """Returns a fresh optimizer of `config` (a `TrainConfig`)."""
  clip = {"global_clipnorm": config.clip_norm} if config.clip_norm else {}
  if config.optimizer == "sgd":
    return keras.optimizers.SGD(learning_rate, momentum=config.momentum,
                                nesterov=config.nesterov, **clip)
  return keras.optimizers.Adam(learning_rate, **clip)


def add_weight_decay(model, weight_decay):
  """Adds coupled L2 decay 0.5 * wd * sum(w^2) over trainable weights as a loss.

  Its gradient is wd * w, as PyTorch's SGD `weight_decay`; a pruned weight
  (exactly 0) gets a zero gradient from it.
  """
  if not weight_decay:
    return
  def l2_loss():
    return 0.5 * weight_decay * tf.add_n(
        [tf.reduce_sum(tf.square(tf.cast(w, tf.float32)))
         for w in model.trainable_weights])
  model.add_loss(l2_loss)


class EvaluateEachEpoch(keras.callbacks.Callback):
  """Evaluates on named datasets at epoch ends; adds `<name>_<metric>` logs.

  Every `every` epochs and at the last epoch `last_epoch` (1-based); never
  after an epoch whose training loss is not finite. Data holding NaN or Inf
  stops the training (`guard`, a `divergence.StopOnNonFinite`).
  """

  def __init__(self, datasets, every=1, last_epoch=None, guard=None):
    super().__init__()
    self._datasets = {k: divergence.checked(v, k)
                      for k, v in datasets.items() if v is not None}
    self._every = every
    self._last_epoch = last_epoch
    self._guard = guard

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) % self._every and epoch + 1 != self._last_epoch:
      return
    if not divergence.finite(logs.get("loss", 0.0)):
      return
    for name, dataset in self._datasets.items():
      try:
        values = self.model.evaluate(dataset, verbose=0, return_dict=True)
      except tf.errors.InvalidArgumentError as error:
        if self._guard is None or not self._guard.evaluation_failed(error):
          raise
        return
      for metric, value in values.items():
        logs[f"{name}_{metric}"] = value


class LogLearningRate(keras.callbacks.Callback):
  """Adds the learning rate of the last step to the epoch logs."""

  def on_epoch_end(self, epoch, logs=None):
    optimizer = self.model.optimizer
    rate = optimizer.learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
      rate = rate(optimizer.iterations - 1)
    # With a schedule, Keras exposes the last step's rate as a variable
    # (a MirroredVariable under a distribution strategy).
    logs["learning_rate"] = float(keras.backend.get_value(rate))


class CheckpointEachEpoch(keras.callbacks.Callback):
  """Saves model + optimizer, then the epoch's metrics, at each epoch end.

  Not at the end of an epoch that `guard` (a `divergence.StopOnNonFinite`)
  stopped, nor of one whose metrics are not finite.
  """

  def __init__(self, manager, history_dir, history, guard=None):
    super().__init__()
    self._manager = manager
    self._history_dir = history_dir
    self._history = history
    self._guard = guard
    self._started = None

  def on_epoch_begin(self, epoch, logs=None):
    self._started = time.time()

  def on_epoch_end(self, epoch, logs=None):
    record = {"epoch": epoch + 1}
    record.update({k: float(v) for k, v in (logs or {}).items()})
    record["seconds"] = time.time() - self._started
    if (self._guard is not None and self._guard.error is not None) or not all(
        divergence.finite(v) for k, v in record.items() if k != "epoch"):
      return  # never checkpoint a diverged model
    self._history.append(record)
    with artifacts.writing(
        os.path.join(self._manager.directory, f"ckpt-{epoch + 1}")):
      self._manager.save(checkpoint_number=epoch + 1)
    artifacts.write_json(
        os.path.join(self._history_dir, f"epoch_{epoch + 1:04d}.json"),
        self._history)


def _restore(manager, checkpoint, history_dir):
  """Restores the latest epoch that has both a checkpoint and its metrics."""
  if not os.path.isdir(history_dir):
    return []
  for path in reversed(manager.checkpoints):
    epoch = int(path.rsplit("-", 1)[1])
    record = os.path.join(history_dir, f"epoch_{epoch:04d}.json")
    if os.path.exists(record):
      _restore_whole(checkpoint, path)
      return artifacts.read_json(record)
  return []


def _restore_whole(checkpoint, path):
  """Restores every value of the checkpoint at `path`, or refuses it.

  A resumed training is the same network, compiled the same way, with its
  optimizer's slots built at compile (`build_optimizer`): every variable finds
  its value and every value its variable (`assert_consumed`). A checkpoint
  that matches only in part (of another network, a damaged file) is refused
  rather than resumed from part of its state; its restore is marked partial
  first, so TensorFlow does not list the values left over ("Unresolved object
  in checkpoint", "Value in checkpoint could not be found in the restored
  object") in warnings whenever Python collects it, possibly stages later.

  Args:
    checkpoint: The `tf.train.Checkpoint` of the model and its optimizer.
    path: The checkpoint's path prefix (`.../checkpoints/ckpt-3`).

  Raises:
    ValueError: naming the checkpoint, what failed, and the folder to delete.
  """
  status = None
  try:
    status = checkpoint.restore(path)
    status.assert_consumed()
  # A damaged checkpoint fails in many ways (OpError, IndexError from a
  # short read, AssertionError on mismatch): all of them mean "unusable".
  except Exception as error:  # pylint: disable=broad-except
    if status is not None:
      status.expect_partial()
    # The first line: TensorFlow's messages go on with a protobuf dump.
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    reason = reason.removesuffix(" {").removesuffix(": attributes")
    raise ValueError(
        f"Checkpoint {path} cannot be restored ({reason}); delete "
        f"{os.path.dirname(path)} to restart this training.") from None


def train(model, data, config, plan, folder, compile_fn,
          callbacks=(), evaluate=None, name=None):
  """Trains `model` for `plan.steps` steps; resumes from `folder` if possible.

  A training whose loss, weights or evaluation become NaN or infinite stops
  at the end of that epoch and raises (see `divergence.py`); its epochs until
  then stay checkpointed (not the one that failed), so a rerun after the fix
  resumes.

  Args:
    model: The Keras model to `fit` (a wrapped network or a `Distiller`).
    data: `LotteryData`.
    config: The `TrainConfig` (optimizer, schedule, verbosity).
    plan: The `TrainingPlan`.
    folder: Where checkpoints and per-epoch metrics go.
    compile_fn: `fn(model, optimizer, **options)` that compiles `model`; the
      options are Keras `compile` arguments (`jit_compile`,
      `steps_per_execution`).
    callbacks: Extra Keras callbacks.
    evaluate: Datasets evaluated at each epoch end, `{"test": ds, ...}`.
    name: What the errors call the network (default: `folder`), its stage
      (`kd/level_02`).

  Returns:
    The list of per-epoch metric dicts (restored epochs included).

  Raises:
    divergence.TrainingDivergedError: when the loss or the weights become
      NaN or infinite, in one sentence naming `name`, the step and the
      likely causes.
    divergence.NonFiniteDataError: when an evaluated dataset holds NaN or Inf.
    artifacts.WriteError: when a checkpoint or an epoch's record cannot be
      written.
  """
  steps_per_epoch = data.train.steps_per_epoch
  optimizer = make_optimizer(config,
                             make_schedule(config, steps_per_epoch, plan))
  compile_fn(model, optimizer, jit_compile=config.jit_compile,
             steps_per_execution=config.steps_per_execution)
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  checkpoint_dir = os.path.join(folder, "checkpoints")
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                       max_to_keep=2)
  history_dir = os.path.join(folder, "epochs")
  history = _restore(manager, checkpoint, history_dir)
  done = len(history)
  full_epochs, remainder = divmod(plan.steps, steps_per_epoch)
  nonfinite = divergence.StopOnNonFinite(
      name or folder, divergence.learning_rate_setting(config, plan))
  last_epoch = full_epochs + (1 if remainder else 0)
  all_callbacks = [EvaluateEachEpoch(evaluate or {}, config.eval_every,
                                     last_epoch, nonfinite),
                   LogLearningRate(), *callbacks, nonfinite,
                   CheckpointEachEpoch(manager, history_dir, history,
                                       nonfinite)]
  chunks = [(full_epochs, steps_per_epoch)]
  if remainder:
    chunks.append((full_epochs + 1, remainder))
  for end_epoch, steps in chunks:
    if done >= end_epoch:
      continue
    start_step = plan.data_offset + done * steps_per_epoch
    model.fit(data.train.stream(start_step, (end_epoch - done) * steps),
              epochs=end_epoch,
              initial_epoch=done, steps_per_epoch=steps,
              callbacks=all_callbacks, verbose=2 if config.verbose else 0)
    if nonfinite.error is not None:
      raise nonfinite.error
    done = len(history)
  return history
