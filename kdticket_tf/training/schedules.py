"""Learning-rate schedules that can start part-way through (weight rewinding).

`LotterySchedule` is a Keras `LearningRateSchedule`: linear warm-up, then constant,
step (x`decay` at each milestone) or cosine decay, all in optimizer steps. Its
`offset` shifts the schedule: the optimizer's step i gets the learning rate of step
i + offset, which is how rewinding to step k retrains the rest of the schedule with
a fresh optimizer.
"""

import math

import tensorflow as tf
import tf_keras as keras


class LotterySchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Warm-up + constant / step / cosine learning rate, optionally offset."""

  def __init__(self, learning_rate, kind="constant", total_steps=1,
               milestones=(), decay=0.1, warmup_steps=0, offset=0):
    """Creates the schedule.

    Args:
      learning_rate: Peak learning rate.
      kind: `constant`, `step` or `cosine`.
      total_steps: Length of the full schedule in steps (cosine ends there).
      milestones: Steps at which `step` multiplies the LR by `decay`.
      decay: The multiplier of `step`.
      warmup_steps: Steps of linear warm-up from 0 (the first step gets
        learning_rate / warmup_steps).
      offset: The schedule's step for the optimizer's step 0.

    Raises:
      ValueError: for an unknown kind or negative lengths.
    """
    super().__init__()
    if kind not in ("constant", "step", "cosine"):
      raise ValueError(f"kind={kind!r} is not constant, step or cosine.")
    if total_steps < 1 or warmup_steps < 0 or offset < 0:
      raise ValueError(
          f"total_steps={total_steps}, warmup_steps={warmup_steps} and "
          f"offset={offset} must be >= 1, >= 0 and >= 0.")
    self.learning_rate = float(learning_rate)
    self.kind = kind
    self.total_steps = int(total_steps)
    self.milestones = tuple(int(m) for m in milestones)
    self.decay = float(decay)
    self.warmup_steps = int(warmup_steps)
    self.offset = int(offset)

  def __call__(self, step):
    step = tf.cast(step, tf.float32) + float(self.offset)
    rate = tf.constant(self.learning_rate, tf.float32)
    if self.kind == "step" and self.milestones:
      passed = tf.reduce_sum(tf.cast(
          step >= tf.constant(self.milestones, tf.float32), tf.float32))
      rate = rate * tf.pow(self.decay, passed)
    elif self.kind == "cosine":
      span = float(max(self.total_steps - self.warmup_steps, 1))
      progress = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
      rate = rate * 0.5 * (1.0 + tf.cos(math.pi * progress))
    if self.warmup_steps:
      warm = tf.minimum((step + 1.0) / float(self.warmup_steps), 1.0)
      rate = rate * warm
    return rate

  def value(self, step):
    """Returns the learning rate at optimizer step `step` as a Python float."""
    return float(self(step))

  def get_config(self):
    return {
        "learning_rate": self.learning_rate, "kind": self.kind,
        "total_steps": self.total_steps, "milestones": self.milestones,
        "decay": self.decay, "warmup_steps": self.warmup_steps,
        "offset": self.offset,
    }
