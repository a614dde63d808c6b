"""Rewinding, in one place: when θk is saved, where it lives, how plans are offset.

Weight rewinding (Frankle et al. 2019) retrains a ticket from θk, the dense
network's weights after step k, for the remaining T - k steps of the schedule.
The dense run saves θk (`layout.rewind_weights`) after exactly step k. Keras runs
each epoch in calls of `steps_per_execution` steps (the last call of an epoch may
be shorter) and restarts that count at every epoch, so weights can be read only
where a call ends: k a whole number of epochs, or (k mod steps per epoch) a
multiple of `steps_per_execution`. Any other k is refused before training.

A recipe's `TrainingPlan` says how many steps it trains and where its learning
rate schedule and data stream start: step k for `schedule_start="rewind"`, step 0
otherwise; fine-tuning trains at a constant rate.

`rewind_step=auto` leaves k to the instability analysis: the coordinator
records its choice (`layout.rewind_choice`) and copies θk into place before any
ticket trains (`instability/report.py`, `choose_rewind_step`); until then `step` is
the earliest candidate, for estimates only.
"""

import os

import tf_keras as keras

from kdticket_tf.store import artifacts
from kdticket_tf.training import fit as training
from kdticket_tf.store import weights as weights_lib


def check_observable(rewind_step, step, steps_per_epoch, per_call):
  """Refuses a rewind step k at which Keras never returns from a call.

  Args:
    rewind_step: The step as configured (for the message), e.g. `6it`.
    step: The same in optimizer steps.
    steps_per_epoch: Steps per epoch.
    per_call: `steps_per_execution`.

  Raises:
    ValueError: naming the nearest steps that would work.
  """
  within = step % steps_per_epoch
  if within == 0 or within % per_call == 0:
    return
  below = step - within % per_call
  above = min(step + per_call - within % per_call,
              step - within + steps_per_epoch)
  raise ValueError(
      f"PruningConfig.rewind_step={rewind_step} ({step} steps) falls inside a "
      f"call of TrainConfig.steps_per_execution={per_call} steps (calls "
      f"restart at each epoch of {steps_per_epoch} steps), so θk could not be "
      f"saved after it; use {below}it or {above}it, a whole number of epochs, "
      "or one step per call.")


class SaveWeightsAtStep(keras.callbacks.Callback):
  """Saves the base model's weights after optimizer step `step` (θk)."""

  def __init__(self, base_model, step, steps_per_epoch, path):
    super().__init__()
    self._base = base_model
    self._step = step
    self._steps_per_epoch = steps_per_epoch
    self._path = path
    self._epoch = 0

  def _implements_train_batch_hooks(self):
    # Epoch-aligned steps need no per-batch hook: the train loop stays free of
    # Python calls between steps.
    return self._step % self._steps_per_epoch != 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def _save_if_due(self, step):
    # Saved again when a resumed training passes step k again (it stopped
    # in that epoch: killed, or diverged), so θk is always this run's.
    if step == self._step:
      weights_lib.save_model_weights(self._path, self._base)

  def on_train_batch_end(self, batch, logs=None):
    # With steps_per_execution, `batch` is the last step of the call.
    self._save_if_due(self._epoch * self._steps_per_epoch + batch + 1)

  def on_epoch_end(self, epoch, logs=None):
    self._save_if_due((epoch + 1) * self._steps_per_epoch)


class RewindPoint:
  """The rewind step k of a search, and the training plans that depend on it."""

  def __init__(self, config, steps_per_epoch, layout, recipes):
    """Resolves k and checks it.

    Args:
      config: The `LotteryConfig`.
      steps_per_epoch: Steps per training epoch.
      layout: The workdir's `Layout`.
      recipes: The `Recipe`s of the search.

    Raises:
      ValueError: when a recipe needs θk and k is not before the end of
        training, or when k falls inside a Keras call.
    """
    self._config = config
    self._steps_per_epoch = steps_per_epoch
    self._layout = layout
    self.total_steps = config.train.total_steps(steps_per_epoch)
    self.auto = config.pruning.rewind_step.is_auto
    if self.auto:  # every candidate is checked (instability/stage.py, check)
      return
    self._step = config.pruning.rewind_step.to_steps(steps_per_epoch)
    if self.step >= self.total_steps and any(r.uses_rewind_point
                                             for r in recipes):
      raise ValueError(
          f"PruningConfig.rewind_step={config.pruning.rewind_step} is "
          f"{self.step} steps, not before the end of training "
          f"({self.total_steps} steps); choose a smaller rewind step.")
    check_observable(config.pruning.rewind_step, self.step, steps_per_epoch,
                     config.train.steps_per_execution)

  @property
  def step(self):
    """k in steps; under `auto`, the recorded choice (or the first candidate)."""
    if not self.auto:
      return self._step
    if os.path.exists(self._layout.rewind_choice):
      return int(artifacts.read_json(self._layout.rewind_choice)["step"])
    return self._config.analysis.steps[0].to_steps(self._steps_per_epoch)

  def dense_callbacks(self, base):
    """Saves θk during the dense run (at once when k is 0); returns callbacks.

    Under `auto` nothing is saved here: the instability analysis's start
    weights are, and the chosen one is copied to θk's place.
    """
    path = self._layout.rewind_weights
    if self.auto:
      return []
    if self.step == 0:
      if not os.path.exists(path):
        weights_lib.save_model_weights(path, base)
      return []
    return [SaveWeightsAtStep(base, self.step, self._steps_per_epoch, path)]

  def plan(self, recipe):
    """Returns the `TrainingPlan` of `recipe` (the dense run: `recipe` None)."""
    if recipe is None:
      return training.TrainingPlan(steps=self.total_steps)
    offset = self.step if recipe.schedule_start == "rewind" else 0
    constant_lr = None
    if recipe.constant_lr:
      constant_lr = self._config.pruning.finetune_lr
      if constant_lr is None:  # the rate of the dense run's last step
        constant_lr = training.make_schedule(
            self._config.train, self._steps_per_epoch,
            training.TrainingPlan(steps=self.total_steps)).value(
                self.total_steps - 1)
    return training.TrainingPlan(
        steps=self.total_steps - offset, schedule_offset=offset,
        data_offset=offset, constant_lr=constant_lr)
