"""Stops a training whose numbers became NaN or Inf, and says why in one sentence.

A training is checked at each epoch's end, so its steps carry no per-batch
callback (`StopOnNonFinite`):

* its loss, the epoch's mean: one NaN or infinite batch makes it so;
* its weights: after a NaN input, TensorFlow's fused ReLU gives 0, so the loss
  can stay finite while the weights (and so every later stage's) are NaN;
* its evaluation losses.

Evaluation data is checked as it is read (`checked`): a batch holding NaN or
Inf fails the evaluation, and the training stops with `NonFiniteDataError`.
A stopped training raises its error once `fit` returns (`fit.train`); both
errors are `ValueError`s, which stop a search (`run/outcomes.py`). The epochs
before are checkpointed (never the one that failed), so a rerun after the fix
resumes from them.
"""

import math
import re

import tensorflow as tf
import tf_keras as keras

_DATA_PROBLEM = "holds NaN or Inf"  # in the check's message: how it is known


class TrainingDivergedError(ValueError):
  """The training loss or weights became NaN or infinite."""


class NonFiniteDataError(ValueError):
  """The evaluated data holds NaN or infinite values."""


def finite(value):
  """Whether a number (a log value) is neither NaN nor infinite."""
  return math.isfinite(float(value))


def learning_rate_setting(config, plan):
  """Returns the rate `plan` trains at and the setting that sets it, as text.

  Args:
    config: The `TrainConfig`.
    plan: The `fit.TrainingPlan`.
  """
  if plan.constant_lr is not None:
    return f"PruningConfig.finetune_lr={plan.constant_lr:g}"
  return f"TrainConfig.learning_rate={config.learning_rate:g}"


def checked(dataset, split):
  """Returns `dataset`, whose reading fails on a batch holding NaN or Inf.

  Args:
    dataset: A batched dataset of tensors (a tuple of them, or one).
    split: Its name (`test`, `validation`), for the error.
  """
  message = f"The {split} data {_DATA_PROBLEM}"

  def check(*batch):
    structure = batch if len(batch) > 1 else batch[0]
    tensors = [tf.debugging.assert_all_finite(t, message)
               if t.dtype.is_floating else t
               for t in tf.nest.flatten(structure)]
    return tf.nest.pack_sequence_as(structure, tensors)

  return dataset.map(check)


def _first_nonfinite(variables):
  """Returns the name of the first variable holding NaN or Inf, or None."""
  for variable in variables:
    if variable.dtype.is_floating and not bool(
        tf.reduce_all(tf.math.is_finite(variable))):
      return variable.name.split(":")[0]
  return None


class StopOnNonFinite(keras.callbacks.Callback):
  """Stops training after an epoch whose loss, weights or evaluation are not finite.

  Its `error` then says why, naming the network, the optimizer's step at the
  end of that epoch and the likely causes.
  """

  def __init__(self, name, learning_rate):
    """Creates the callback.

    Args:
      name: The network trained, for the error (`kd/level_02`).
      learning_rate: The rate and the setting that sets it, for the error
        (`TrainConfig.learning_rate=0.1`, see `learning_rate_setting`).
    """
    super().__init__()
    self._name = name
    self._learning_rate = learning_rate
    self.error = None

  def step(self):
    """The optimizer's step now."""
    return int(self.model.optimizer.iterations)

  def stop(self, error):
    """Stops the training at this epoch's end; `fit.train` raises `error`."""
    if self.error is None:
      self.error = error
    self.model.stop_training = True

  def evaluation_failed(self, error):
    """Stops on the error of a `checked` dataset; False for any other error.

    Args:
      error: The `tf.errors.InvalidArgumentError` an evaluation raised.
    """
    found = re.search(rf"The (\w+) data {_DATA_PROBLEM}", error.message)
    if found is None:
      return False
    split = found.group(1)
    self.stop(NonFiniteDataError(
        f"The {split} data {_DATA_PROBLEM}, found evaluating {self._name} at "
        f"step {self.step()}; replace those values (np.nan_to_num) or drop "
        "their examples, and rerun to resume."))
    return True

  def _diverged(self, what):
    return TrainingDivergedError(
        f"Training of {self._name} diverged at step {self.step()} ({what}); "
        "the likely causes are NaN or Inf in the inputs (fix them and rerun "
        f"to resume) or a learning rate too high ({self._learning_rate}; "
        "lower it in another workdir, or overwrite this one).")

  def on_epoch_end(self, epoch, logs=None):
    if self.error is not None:
      return
    logs = logs or {}
    if not finite(logs.get("loss", 0.0)):
      self.stop(self._diverged(f"the loss became {float(logs['loss'])}"))
      return
    weight = _first_nonfinite(self.model.weights)
    if weight is not None:
      self.stop(self._diverged(f"its weight {weight} became NaN or Inf"))
      return
    for key, value in logs.items():
      if key.endswith("_loss") and not finite(value):
        self.stop(self._diverged(
            f"the {key.replace('_', ' ')} became {float(value)}"))
        return
