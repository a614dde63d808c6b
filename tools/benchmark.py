r"""Training throughput of dense, masked and distilled steps, side by side.

    python tools/benchmark.py --model=lenet_300_100 --batch_size=128
    python tools/benchmark.py --model=resnet_cifar --depth=20 --format=json

For one model and batch size, on synthetic data of the dataset's shape held in
memory (the same input pipeline as real runs), measures steady-state `fit`
throughput in one process for:

* `dense`: the plain Keras model, no pruning wrappers (the baseline);
* `masked`: the TF-MOT-wrapped model with fixed masks at `--sparsity`;
* `kd`: the masked model trained by the `Distiller` with a live teacher;
* `kd_cached`: the same with the teacher's logits cached beside the batch;
* `eval`: evaluation of the masked model.

Each mode is timed on Keras's own compiled step function (`make_train_function`,
`make_test_function`: what `fit` and `evaluate` run per batch) fed from a live
iterator of the input pipeline, so the figures are step costs without the fixed
per-call cost of `fit`.

Each mode gets a warm-up run (tracing, first steps), then `--repeats` rounds in
which every mode runs `--steps` steps in turn (interleaved, so a drift of the
machine's speed hits all modes alike); the median per mode is reported. Ratios are step-time ratios (lower is
better): `masked_vs_dense`, `kd_vs_dense`, `kd_cached_vs_dense`, and against the
same masked model, `kd_vs_masked`, `kd_cached_vs_masked`.
"""

import json
import statistics
import time

from absl import app
from absl import flags
from absl import logging

import kdticket_tf
import numpy as np
import tf_keras as keras

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet_300_100", "Registered model name.")
flags.DEFINE_integer("depth", 20, "Depth of resnet_cifar.")
flags.DEFINE_enum("block", "basic", ["basic", "bottleneck"], "ResNet block.")
flags.DEFINE_list("shape", None, "Input shape (default: by model).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 200, "Steps per timed run.")
flags.DEFINE_integer("repeats", 5, "Timed runs per mode (median reported).")
flags.DEFINE_float("sparsity", 0.8, "Sparsity of the fixed masks.")
flags.DEFINE_list("modes", ["dense", "masked", "kd", "kd_cached", "eval"],
                  "Modes to measure.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")

_DEFAULT_SHAPES = {"lenet_300_100": (28, 28, 1)}


def _step_function(model, mode):
  """Returns Keras's own compiled step (what `fit`/`evaluate` call per batch)."""
  if mode == "eval":
    return model.make_test_function()
  return model.make_train_function()


def _run(step, iterator, steps):
  for _ in range(steps):
    logs = step(iterator)
  # Wait for the last step's values, so asynchronous work is inside the timing.
  float(next(iter(logs.values())))


def measure(model_config, shape, batch_size, steps, repeats, sparsity, modes):
  """Returns {mode: seconds per step} for the requested modes."""
  examples = max(batch_size * 16, 2048)
  data_config = kdticket_tf.DataConfig(
      dataset="synthetic", synthetic_shape=shape, synthetic_classes=10,
      synthetic_examples=examples, batch_size=batch_size)
  data = kdticket_tf.data.load(data_config)
  stream = data.train.stream(0)

  def build():
    keras.utils.set_random_seed(0)
    return kdticket_tf.models.build(model_config, data.input_shape,
                                    data.num_classes)

  def masked_model():
    base = build()
    wrapped = kdticket_tf.pruning.wrapper.wrap_model(base)
    kernels = [w.numpy() for _, w, _ in
               kdticket_tf.pruning.wrapper.prunable_variables(wrapped)]
    kdticket_tf.pruning.wrapper.set_masks(
        wrapped, kdticket_tf.pruning.masks.target_masks(kernels, sparsity))
    return wrapped

  def optimizer():
    return keras.optimizers.SGD(0.01, momentum=0.9)

  runs = {}
  for mode in modes:
    if mode in ("dense",):
      model = build()
      kdticket_tf.lottery.compile_classifier(model, optimizer())
      runs[mode] = (model, stream)
    elif mode in ("masked", "eval"):
      model = masked_model()
      kdticket_tf.lottery.compile_classifier(model, optimizer())
      runs[mode] = (model, stream)
    elif mode in ("kd", "kd_cached"):
      teacher = build()
      model = kdticket_tf.distill.Distiller(masked_model(), teacher)
      model.compile(optimizer())
      dataset = stream
      if mode == "kd_cached":
        logits = teacher.predict(data.train.ordered(1000), verbose=0)
        dataset = data.train.with_extra(logits.astype(np.float32)).stream(0)
      runs[mode] = (model, dataset)
    else:
      raise ValueError(f"mode={mode!r} is unknown.")
  steps_and_data = {mode: (_step_function(model, mode), iter(dataset))
                    for mode, (model, dataset) in runs.items()}
  for step, iterator in steps_and_data.values():  # warm-up: tracing, first steps
    _run(step, iterator, steps)
  # Interleaved rounds, so slow drifts of the machine hit every mode alike.
  times = {mode: [] for mode in runs}
  for _ in range(repeats):
    for mode, (step, iterator) in steps_and_data.items():
      started = time.perf_counter()
      _run(step, iterator, steps)
      times[mode].append(time.perf_counter() - started)
  for mode, t in times.items():
    logging.debug("%s: %s", mode, " ".join(f"{1000 * x / steps:.2f}" for x in t))
  return {mode: statistics.median(t) / steps for mode, t in times.items()}


def report(seconds, batch_size):
  """Returns the JSON-ready report of `seconds` per step."""
  result = {"images_per_second": {m: batch_size / s for m, s in seconds.items()},
            "seconds_per_step": seconds, "ratios": {}}
  for mode in ("masked", "kd", "kd_cached"):
    if mode in seconds and "dense" in seconds:
      result["ratios"][f"{mode}_vs_dense"] = seconds[mode] / seconds["dense"]
  for mode in ("kd", "kd_cached"):
    if mode in seconds and "masked" in seconds:
      result["ratios"][f"{mode}_vs_masked"] = seconds[mode] / seconds["masked"]
  result.update(result["ratios"])
  return result


def main(argv):
  del argv
  shape = tuple(int(d) for d in FLAGS.shape) if FLAGS.shape else (
      _DEFAULT_SHAPES.get(FLAGS.model, (32, 32, 3)))
  model_config = kdticket_tf.ModelConfig(name=FLAGS.model, depth=FLAGS.depth,
                                         block=FLAGS.block)
  seconds = measure(model_config, shape, FLAGS.batch_size, FLAGS.steps,
                    FLAGS.repeats, FLAGS.sparsity, FLAGS.modes)
  result = report(seconds, FLAGS.batch_size)
  result["setup"] = {"model": FLAGS.model, "depth": FLAGS.depth,
                     "shape": list(shape), "batch_size": FLAGS.batch_size,
                     "steps": FLAGS.steps, "repeats": FLAGS.repeats,
                     "sparsity": FLAGS.sparsity}
  if FLAGS.format == "json":
    print(json.dumps(result, indent=2))
    return 0
  print(f"{FLAGS.model} batch {FLAGS.batch_size}, input {shape}, "
        f"{FLAGS.steps} steps x {FLAGS.repeats} repeats (median)")
  print(f"{'mode':<10} {'images/s':>10} {'ms/step':>9}")
  for mode, value in seconds.items():
    print(f"{mode:<10} {FLAGS.batch_size / value:>10.0f} {1000 * value:>9.2f}")
  for name, value in result["ratios"].items():
    print(f"{name:<22} {value:.3f}")
  return 0


if __name__ == "__main__":
  app.run(main)
