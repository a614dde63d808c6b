r"""Retrains a KD ticket with a minimal loop, to cross-check the `kd` recipe.

    python tools/kd_crosscheck.py --workdir=workdirs/study_a/main/seed_0 \
        --level=3 --recipe=kd

Everything the library's `kd` recipe does between "mask and θ0" and "test
accuracy" is written again here, directly in TensorFlow: a `GradientTape` step,
the KD loss `alpha * T^2 * KL(teacher || student) + (1 - alpha) * CE` written
out, Adam or SGD with the schedule computed by hand, the mask applied by
zeroing the pruned weights after each step. No `Distiller`, no TF-MOT wrapper,
no Keras `fit`. What it shares with the run it checks: the workdir's θ0
(`dense/init.weights.npz`), the stage's mask (`<recipe>/level_NN/masks.npz`),
the teacher (`dense/final.weights.npz`), the batches in the same order (the
registered dataset's seeded stream) and the settings of `config.json`.

Prints the teacher's accuracy on the training and test sets (a teacher that has
memorised its training set gives soft labels that carry little beyond the hard
ones), then this loop's test accuracy beside the recipe's, and with `--json_out`
writes them; `--weights_out` writes the loop's final weights (`.npz`, the
model's weights in order, `arr_0`, `arr_1`, ...) to compare with the stage's
`final.weights.npz`. Settings the loop does not write out (gradient clipping,
`kd_stop_epoch`) are refused.
"""

import json
import math
import os
import sys
import time

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A finished workdir of the trainer.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_integer("level", 1, "The pruned level to retrain.")
flags.DEFINE_string("recipe", "kd", "A KD recipe starting from θ0 (kd).")
flags.DEFINE_string("json_out", None, "Also write the figures here as JSON.")
flags.DEFINE_string("weights_out", None,
                    "Also write the loop's final weights here (.npz).")


def _learning_rate(train, step, total):
  """The schedule of `train` (a TrainConfig) at `step`, computed by hand."""
  warmup = train.warmup.value  # the studies use none; steps or epochs alike
  if train.lr_schedule == "cosine":
    rate = train.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total))
  elif train.lr_schedule == "step":
    raise ValueError("kd_crosscheck computes constant and cosine schedules.")
  else:
    rate = train.learning_rate
  if warmup:
    raise ValueError("kd_crosscheck computes schedules without warm-up.")
  return rate


def _accuracy(tf, model, batches):
  right = total = 0
  for images, labels in batches:
    predicted = tf.argmax(model(images, training=False), axis=-1)
    right += int(tf.reduce_sum(tf.cast(predicted == labels, tf.int32)))
    total += int(labels.shape[0])
  return right / total


def crosscheck(workdir, level, recipe):
  """Retrains `recipe` at `level` of `workdir` with the minimal loop.

  Returns:
    `(figures, student)`: a dict of figures (the teacher's train and test
    accuracy, the loop's and the recipe's test accuracy) and the retrained
    model.

  Raises:
    ValueError: for settings the loop does not reproduce.
  """
  tf = kdticket_tf.start_tensorflow()
  import numpy as np  # pylint: disable=g-import-not-at-top
  layout = kdticket_tf.Layout(workdir)
  config = kdticket_tf.read_config(workdir)
  if config.train.optimizer not in ("adam", "sgd"):
    raise ValueError(f"optimizer {config.train.optimizer!r} is not checked.")
  settings = config.distill
  if config.train.clip_norm:
    raise ValueError(f"clip_norm={config.train.clip_norm} is not reproduced "
                     "by the loop; cross-check a run without clipping.")
  if settings.stop_epoch is not None:
    raise ValueError(f"kd_stop_epoch={settings.stop_epoch} is not reproduced "
                     "by the loop; cross-check a run without it.")
  data = kdticket_tf.load_data(config.data, seed=config.train.seed)
  key = kdticket_tf.StageKey(recipe, level)
  with open(layout.metrics(key), encoding="utf-8") as stream:
    row = json.load(stream)["row"]

  def build():
    tf.keras.utils.set_random_seed(config.train.seed)
    return kdticket_tf.build_model(config.model, data.input_shape,
                                    data.num_classes)

  teacher = build()
  kdticket_tf.load_model_weights(
      layout.final_weights(kdticket_tf.DENSE_KEY), teacher)
  student = build()
  kdticket_tf.load_model_weights(layout.init_weights, student)
  # The mask: one array per prunable kernel, in model order, by layer name.
  with np.load(layout.masks(key)) as archive:
    masks = {name.split(":")[1].rsplit(".", 1)[0]: archive[name]
             for name in archive.files}
  masked = [(layer.kernel, tf.constant(masks[layer.name]))
            for layer in student.layers if layer.name in masks]
  for kernel, mask in masked:
    kernel.assign(kernel * mask)

  steps_per_epoch = data.train.steps_per_epoch
  total = config.train.total_steps(steps_per_epoch)
  first = _learning_rate(config.train, 0, total)
  if config.train.optimizer == "adam":
    optimizer = tf.keras.optimizers.Adam(first)
  else:
    optimizer = tf.keras.optimizers.SGD(first, momentum=config.train.momentum,
                                        nesterov=config.train.nesterov)
  temperature, alpha = settings.temperature, settings.alpha
  classes = data.num_classes

  @tf.function
  def step(images, labels):
    soft_teacher = tf.nn.softmax(teacher(images, training=False) / temperature)
    with tf.GradientTape() as tape:
      logits = student(images, training=True)
      log_student = tf.nn.log_softmax(logits / temperature)
      kl = tf.reduce_sum(
          soft_teacher * (tf.math.log(soft_teacher + 1e-12) - log_student), -1)
      if settings.reduction == "mean":
        kl = kl / classes
      hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
      loss = tf.reduce_mean(alpha * temperature**2 * kl + (1 - alpha) * hard)
      if config.train.weight_decay:
        loss += 0.5 * config.train.weight_decay * tf.add_n(
            [tf.reduce_sum(w**2) for w in student.trainable_weights])
    variables = student.trainable_weights
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for kernel, mask in masked:  # pruned weights back to exactly 0
      kernel.assign(kernel * mask)
    return loss

  started = time.time()
  batches = iter(data.train.stream(0))
  for index in range(total):
    optimizer.learning_rate.assign(_learning_rate(config.train, index, total))
    images, labels = next(batches)
    step(images, labels)
  seconds = time.time() - started
  for kernel, mask in masked:
    leaked = int(np.count_nonzero(kernel.numpy()[mask.numpy() == 0]))
    if leaked:
      raise RuntimeError(f"{leaked} pruned weights are non-zero.")
  return {
      "workdir": workdir, "recipe": recipe, "level": level,
      "sparsity": row["sparsity"],
      "teacher_train_accuracy": _accuracy(tf, teacher,
                                          data.train.ordered(1000)),
      "teacher_test_accuracy": _accuracy(tf, teacher, data.test),
      "loop_test_accuracy": _accuracy(tf, student, data.test),
      "recipe_test_accuracy": row["test_accuracy"],
      "loop_seconds": seconds,
  }, student


def main(argv):
  del argv
  try:
    figures, student = crosscheck(FLAGS.workdir, FLAGS.level, FLAGS.recipe)
  except (ValueError, OSError) as error:
    print(f"kd_crosscheck: error: {error}", file=sys.stderr)
    return 1
  print(f"{os.path.join(FLAGS.workdir, FLAGS.recipe)} level {FLAGS.level} "
        f"({100 * figures['sparsity']:.1f}% pruned)")
  for name in ("teacher_train_accuracy", "teacher_test_accuracy",
               "loop_test_accuracy", "recipe_test_accuracy"):
    print(f"  {name:24s} {100 * figures[name]:.2f}%")
  print(f"  difference (loop - recipe) "
        f"{100 * (figures['loop_test_accuracy'] - figures['recipe_test_accuracy']):+.2f}"
        " points")
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w", encoding="utf-8") as stream:
      json.dump(figures, stream, indent=2)
  if FLAGS.weights_out:
    import numpy as np  # pylint: disable=g-import-not-at-top
    with open(FLAGS.weights_out, "wb") as stream:
      np.savez(stream, *student.get_weights())
  return 0


if __name__ == "__main__":
  app.run(main)
