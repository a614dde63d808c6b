"""The KD ticket's distillation: the loss and a `Distiller` with its own train_step.

`distillation_loss` is the reference code's

    alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(y, z_s)

with the KL summed over classes and averaged over the batch (`batchmean`), or
averaged over batch x classes (`mean`, the reference CIFAR script's reduction).

`Distiller` is a `keras.Model` holding a (TF-MOT wrapped) student and a frozen
teacher. Its `train_step` runs the teacher with `training=False` (or reads teacher
logits cached beside the batch), and applies gradients to the student only; its
`test_step` evaluates the student alone. It works with `fit`, callbacks,
checkpoints and distribution strategies.
"""

import os

import tensorflow as tf
import tf_keras as keras

from kdticket_tf.training import fit as training
from kdticket_tf.store import weights as weights_lib

# The key under which cached teacher logits ride with a training batch.
TEACHER_LOGITS = "teacher_logits"


def distillation_loss(labels, student_logits, teacher_logits, alpha,
                      temperature, reduction="batchmean"):
  """Returns the KD loss averaged over the batch.

  Args:
    labels: Integer class labels [B].
    student_logits: Student logits [B, C].
    teacher_logits: Teacher logits [B, C].
    alpha: Weight of the distillation term, in [0, 1].
    temperature: Softmax temperature T > 0.
    reduction: `batchmean` (KL summed over classes, mean over the batch) or
      `mean` (mean over batch x classes).

  Returns:
    A scalar float32 tensor.

  Raises:
    ValueError: for an unknown reduction.
  """
  if reduction not in ("batchmean", "mean"):
    raise ValueError(
        f"reduction={reduction!r} is not supported; use 'batchmean' or 'mean'.")
  return tf.reduce_mean(per_example_distillation_loss(
      labels, student_logits, teacher_logits, alpha, temperature, reduction))


def per_example_distillation_loss(labels, student_logits, teacher_logits, alpha,
                                  temperature, reduction="batchmean"):
  """Returns the KD loss of each example [B]; its mean is `distillation_loss`."""
  student_logits = tf.cast(student_logits, tf.float32)
  teacher_logits = tf.stop_gradient(tf.cast(teacher_logits, tf.float32))
  log_student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
  log_teacher = tf.nn.log_softmax(teacher_logits / temperature, axis=-1)
  kl = tf.reduce_sum(tf.exp(log_teacher) * (log_teacher - log_student), axis=-1)
  if reduction == "mean":
    kl = kl / tf.cast(tf.shape(student_logits)[-1], tf.float32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=student_logits)
  alpha = tf.cast(alpha, tf.float32)
  return alpha * temperature**2 * kl + (1.0 - alpha) * cross_entropy


def unpack_batch(data):
  """Splits a training batch into (inputs, labels, sample weights, logits).

  A batch is `(inputs, labels)`, `(inputs, labels, sample_weight)` with one
  weight per example, or `(inputs, labels, {"teacher_logits": logits})`, the
  form in which cached teacher logits ride with their batch.

  Returns:
    `(inputs, labels, sample_weight or None, teacher_logits or None)`.

  Raises:
    ValueError: for any other structure, naming the shape it got.
  """
  if len(data) == 2:
    return data[0], data[1], None, None
  if len(data) != 3:
    raise ValueError(
        f"A Distiller training batch has {len(data)} elements; give (inputs, "
        "labels) or (inputs, labels, sample_weight).")
  inputs, labels, third = data
  if isinstance(third, dict):
    if set(third) != {TEACHER_LOGITS}:
      raise ValueError(
          f"A Distiller training batch carries the keys {sorted(third)}; the "
          f"only one it reads is {TEACHER_LOGITS!r}.")
    return inputs, labels, None, third[TEACHER_LOGITS]
  shape = third.shape
  if shape.rank is not None and not (
      shape.rank == 1 or (shape.rank == 2 and shape[1] == 1)):
    raise ValueError(
        f"The third element of a Distiller training batch has shape {shape}; "
        "it must be sample weights of shape [batch] (cached teacher logits "
        f"come as {{{TEACHER_LOGITS!r}: logits}}).")
  return inputs, labels, third, None


class Distiller(keras.Model):
  """Trains `student` on a frozen `teacher`'s soft labels and the hard labels."""

  def __init__(self, student, teacher, alpha=0.9, temperature=5.0,
               reduction="batchmean", **kwargs):
    """Creates the distiller.

    Args:
      student: The model to train (its logits are the output).
      teacher: The model whose logits are the soft labels; frozen.
      alpha: Weight of the distillation term.
      temperature: Softmax temperature.
      reduction: `batchmean` or `mean` (see `distillation_loss`).
      **kwargs: Passed to `keras.Model`.
    """
    super().__init__(**kwargs)
    self.student = student
    self.teacher = teacher
    self.teacher.trainable = False
    self.temperature = float(temperature)
    self.reduction = reduction
    # A variable so `kd_stop_epoch` can switch to hard labels without retracing.
    self.alpha = tf.Variable(float(alpha), trainable=False, dtype=tf.float32,
                             name="kd_alpha")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy(
        name="accuracy")

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy_metric]

  def call(self, inputs, training=None):
    return self.student(inputs, training=training)

  def _scaled(self, loss):
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype)

  def train_step(self, data):
    inputs, labels, sample_weight, teacher_logits = unpack_batch(data)
    if teacher_logits is None:
      teacher_logits = self.teacher(inputs, training=False)
    with tf.GradientTape() as tape:
      student_logits = self.student(inputs, training=True)
      per_example = per_example_distillation_loss(
          labels, student_logits, teacher_logits, self.alpha,
          self.temperature, self.reduction)
      if sample_weight is None:
        loss = tf.reduce_mean(per_example)
      else:  # Keras's weighted mean: sum(w * loss) / batch size
        loss = tf.reduce_mean(
            per_example * tf.reshape(tf.cast(sample_weight, tf.float32), [-1]))
      if self.student.losses:
        loss += tf.add_n(self.student.losses)
      scaled_loss = self._scaled(loss)
      if isinstance(self.optimizer,
                    keras.mixed_precision.LossScaleOptimizer):
        scaled_loss = self.optimizer.get_scaled_loss(scaled_loss)
    variables = self.student.trainable_variables
    gradients = tape.gradient(scaled_loss, variables)
    if isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer):
      gradients = self.optimizer.get_unscaled_gradients(gradients)
    self.optimizer.apply_gradients(zip(gradients, variables))
    self.loss_tracker.update_state(loss)
    self.accuracy_metric.update_state(labels, student_logits,
                                      sample_weight=sample_weight)
    return {m.name: m.result() for m in self.metrics}

  def test_step(self, data):
    inputs, labels = data[0], data[1]
    logits = self.student(inputs, training=False)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)))
    self.loss_tracker.update_state(loss)
    self.accuracy_metric.update_state(labels, logits)
    return {m.name: m.result() for m in self.metrics}


class StopDistillation(keras.callbacks.Callback):
  """Switches a `Distiller` to hard labels only from epoch `stop_epoch` on."""

  def __init__(self, stop_epoch):
    super().__init__()
    self._stop_epoch = stop_epoch

  def on_epoch_begin(self, epoch, logs=None):
    if epoch >= self._stop_epoch:
      self.model.alpha.assign(0.0)


def check_teacher_path(path):
  """Refuses a teacher path that `load_teacher` could not read.

  Raises:
    ValueError: naming `path` when no SavedModel or weights file is there.
  """
  if (os.path.isdir(path) and
      os.path.exists(os.path.join(path, "saved_model.pb"))):
    return
  if os.path.isfile(path) or os.path.exists(path + ".index"):
    return
  raise ValueError(
      f"DistillConfig.teacher={path!r} is neither 'dense', 'previous_level', "
      "a SavedModel directory nor a weights file that exists.")


def load_teacher(path, build_fn):
  """Loads a teacher model from `path`.

  Args:
    path: A weights file of this package (`.npz`), a Keras weights file or
      checkpoint prefix for a model of the same architecture, or a Keras
      SavedModel directory.
    build_fn: Returns a fresh model of the student's architecture.

  Returns:
    A Keras model that maps inputs to logits.

  Raises:
    ValueError: naming `path` when it does not exist or does not fit.
  """
  if os.path.isdir(path) and os.path.exists(os.path.join(path,
                                                         "saved_model.pb")):
    try:
      return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as error:
      raise ValueError(
          f"DistillConfig.teacher={path!r} is a SavedModel that Keras cannot "
          "load as a "
          f"model ({error}); save the teacher with model.save(path).") from None
  if path.endswith(".npz"):
    if not os.path.exists(path):
      raise ValueError(f"DistillConfig.teacher={path!r}: no such weights file.")
    teacher = build_fn()
    weights_lib.load_model_weights(path, teacher)
    return teacher
  if not (os.path.exists(path) or os.path.exists(path + ".index")):
    raise ValueError(
        f"DistillConfig.teacher={path!r} is neither 'dense', 'previous_level', a "
        "SavedModel directory nor a weights file that exists.")
  teacher = build_fn()
  try:
    teacher.load_weights(path)
  except (ValueError, OSError, tf.errors.OpError) as error:
    raise ValueError(
        f"DistillConfig.teacher={path!r}: its weights do not fit the model "
        f"({error}).") from None
  return teacher


def compile_distiller(model, optimizer, **options):
  """Compiles a `Distiller` (the loss lives in its train_step).

  Args:
    model: The `Distiller`.
    optimizer: A fresh optimizer.
    **options: More `compile` arguments (`jit_compile`, `steps_per_execution`).
  """
  model.compile(optimizer=optimizer, **options)
  training.build_optimizer(model, model.student.trainable_variables)
