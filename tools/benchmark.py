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
* `eval`: evaluation of the masked model;
* `pipeline_real` / `pipeline_memory`: the dense model trained from
  `--pipeline_dataset`'s real input pipeline (read from disk, shuffled, batched,
  normalised) and from the same data held in memory: one epoch of its
  finished batches cached and replayed, so no input work is left per step;
  their ratio `pipeline_vs_memory_throughput` says what the pipeline costs.

Each mode is timed on Keras's own compiled step function (`make_train_function`,
`make_test_function`: what `fit` and `evaluate` run per batch) fed from a live
iterator of the input pipeline, so the figures are step costs without the fixed
per-call cost of `fit`.

Each mode gets a warm-up run (tracing, first steps), then `--repeats` rounds in
which every mode runs `--steps` steps in turn (interleaved, so a drift of the
machine's speed hits all modes alike). Images/second come from the median
time per mode; each ratio is the median over rounds of that round's ratio
(paired, so a slow second for the whole machine cancels out). Ratios are
step-time ratios (lower is better): `masked_vs_dense`, `kd_vs_dense`,
`kd_cached_vs_dense`, and against the same masked model, `kd_vs_masked`,
`kd_cached_vs_masked`; `pipeline_vs_memory_throughput` is a throughput ratio
(higher is better, 1.0 = the pipeline costs nothing).

`--jit_compile`, `--mixed_precision` and `--steps_per_execution` apply to every
mode, as the trainer's flags of the same names do.
"""

import json
import statistics
import time

from absl import app
from absl import flags
from absl import logging

import kdticket_tf
import numpy as np

# Started here, before tf_keras loads it: quietly, unless the user set
# TF_CPP_MIN_LOG_LEVEL.
kdticket_tf.start_tensorflow()
import tf_keras as keras  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet_300_100", "Registered model name.")
flags.DEFINE_integer("depth", 20, "Depth of resnet_cifar.")
flags.DEFINE_enum("block", "basic", ["basic", "bottleneck"], "ResNet block.")
flags.DEFINE_list("shape", None, "Input shape (default: by model).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 200,
                     "Optimizer steps per timed round, rounded down to whole "
                     "calls of --steps_per_execution steps (at least one).")
flags.DEFINE_integer("repeats", 5, "Timed runs per mode (median reported).")
flags.DEFINE_float("sparsity", 0.8, "Sparsity of the fixed masks.")
flags.DEFINE_list("modes", ["dense", "masked", "kd", "kd_cached", "eval"],
                  "Modes to measure.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")
flags.DEFINE_string("json_out", None,
                    "Also write the JSON report to this file.")
flags.DEFINE_bool("jit_compile", False, "Compile the steps with XLA.")
flags.DEFINE_enum("mixed_precision", "", ["", "mixed_float16", "mixed_bfloat16"],
                  "Keras mixed precision policy.")
flags.DEFINE_integer("steps_per_execution", 1, "Steps per compiled call.")
flags.DEFINE_string("pipeline_dataset", "fashion_mnist",
                    "Dataset of the input-pipeline measurement ('' to skip).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir / folder of IDX files.")

_DEFAULT_SHAPES = {"lenet_300_100": (28, 28, 1)}


def _step_function(model, mode):
  """Returns Keras's own compiled step (what `fit`/`evaluate` call per batch)."""
  if mode == "eval":
    return model.make_test_function()
  return model.make_train_function()


def _run(step, iterator, calls):
  for _ in range(calls):
    logs = step(iterator)
  # Wait for the last step's values, so asynchronous work is inside the timing.
  float(next(iter(logs.values())))


def _step_counter(model, mode):
  """Keras's count of the steps the model ran (`steps_per_execution` per call)."""
  # pylint: disable=protected-access
  return model._test_counter if mode == "eval" else model._train_counter


def measure(model_config, shape, batch_size, steps, repeats, sparsity, modes,
            compile_options=None, pipeline_dataset=None, data_dir=None):
  """Returns ({mode: [seconds per step of each round]}, {mode: steps per round}).

  With `pipeline_dataset`, two more modes train the dense model fed by that
  dataset's real input pipeline (`pipeline_real`) and by one epoch of its
  batches cached in memory and replayed (`pipeline_memory`).
  """
  compile_options = compile_options or {}
  examples = max(batch_size * 16, 2048)
  data_config = kdticket_tf.DataConfig(
      dataset="synthetic", synthetic_shape=shape, synthetic_classes=10,
      synthetic_examples=examples, batch_size=batch_size)
  data = kdticket_tf.load_data(data_config)
  stream = data.train.stream(0)

  def build():
    keras.utils.set_random_seed(0)
    return kdticket_tf.build_model(model_config, data.input_shape,
                                    data.num_classes)

  def masked_model():
    base = build()
    wrapped = kdticket_tf.wrap_model(base)
    kernels = [w.numpy() for _, w, _ in
               kdticket_tf.prunable_variables(wrapped)]
    kdticket_tf.set_masks(
        wrapped, kdticket_tf.target_masks(kernels, sparsity))
    return wrapped

  def optimizer():
    return keras.optimizers.SGD(0.01, momentum=0.9)

  def compiled(model):
    if isinstance(model, kdticket_tf.Distiller):
      kdticket_tf.compile_distiller(model, optimizer(),
                                            **compile_options)
    else:
      kdticket_tf.compile_classifier(model, optimizer(),
                                             **compile_options)
    return model

  runs = {}
  for mode in modes:
    if mode == "dense":
      runs[mode] = (compiled(build()), stream)
    elif mode in ("masked", "eval"):
      runs[mode] = (compiled(masked_model()), stream)
    elif mode in ("kd", "kd_cached"):
      teacher = build()
      model = compiled(kdticket_tf.Distiller(masked_model(), teacher))
      dataset = stream
      if mode == "kd_cached":
        logits = teacher.predict(data.train.ordered(1000), verbose=0)
        dataset = data.train.with_extra(logits.astype(np.float32)).stream(0)
      runs[mode] = (model, dataset)
    else:
      raise ValueError(f"mode={mode!r} is unknown.")
  if pipeline_dataset:
    real = kdticket_tf.load_data(kdticket_tf.DataConfig(
        dataset=pipeline_dataset, data_dir=data_dir, batch_size=batch_size))
    real_stream = real.train.stream(0)
    in_memory = real_stream.take(real.train.steps_per_epoch).cache().repeat()
    for mode, dataset in (("pipeline_real", real_stream),
                          ("pipeline_memory", in_memory)):
      keras.utils.set_random_seed(0)
      model = kdticket_tf.build_model(model_config, real.input_shape,
                                       real.num_classes)
      runs[mode] = (compiled(model), dataset)
  steps_and_data = {mode: (_step_function(model, mode), iter(dataset))
                    for mode, (model, dataset) in runs.items()}
  per_call = compile_options.get("steps_per_execution", 1)
  calls = max(1, steps // per_call)
  warm_up = {mode: calls for mode in runs}
  if pipeline_dataset:  # the in-memory baseline's first epoch fills its cache
    warm_up["pipeline_memory"] = max(
        calls, -(-real.train.steps_per_epoch // per_call))
  for mode, (step, iterator) in steps_and_data.items():  # tracing, first steps
    _run(step, iterator, warm_up[mode])
  # Interleaved rounds, so slow drifts of the machine hit every mode alike.
  # Each round's time is divided by the steps Keras counted in it.
  times = {mode: [] for mode in runs}
  counted = {}
  for _ in range(repeats):
    for mode, (step, iterator) in steps_and_data.items():
      counter = _step_counter(runs[mode][0], mode)
      before = int(counter.numpy())
      started = time.perf_counter()
      _run(step, iterator, calls)
      elapsed = time.perf_counter() - started
      counted[mode] = int(counter.numpy()) - before
      times[mode].append(elapsed / counted[mode])
  for mode, t in times.items():
    logging.debug("%s: %s", mode, " ".join(f"{1000 * x:.2f}" for x in t))
  return times, counted


def _paired_ratio(rounds, numerator, denominator):
  """Median over rounds of numerator's time / denominator's in the same round."""
  return statistics.median(
      a / b for a, b in zip(rounds[numerator], rounds[denominator]))


def report(rounds, batch_size):
  """Returns the JSON-ready report of per-round `rounds` seconds per step."""
  seconds = {mode: statistics.median(t) for mode, t in rounds.items()}
  result = {"images_per_second": {m: batch_size / s for m, s in seconds.items()},
            "seconds_per_step": seconds, "ratios": {}}
  for mode in ("masked", "kd", "kd_cached"):
    if mode in seconds and "dense" in seconds:
      result["ratios"][f"{mode}_vs_dense"] = _paired_ratio(rounds, mode,
                                                           "dense")
  for mode in ("kd", "kd_cached"):
    if mode in seconds and "masked" in seconds:
      result["ratios"][f"{mode}_vs_masked"] = _paired_ratio(rounds, mode,
                                                            "masked")
  if "pipeline_real" in seconds and "pipeline_memory" in seconds:
    result["ratios"]["pipeline_vs_memory_throughput"] = _paired_ratio(
        rounds, "pipeline_memory", "pipeline_real")
  result.update(result["ratios"])
  return result


def main(argv):
  del argv
  shape = tuple(int(d) for d in FLAGS.shape) if FLAGS.shape else (
      _DEFAULT_SHAPES.get(FLAGS.model, (32, 32, 3)))
  model_config = kdticket_tf.ModelConfig(name=FLAGS.model, depth=FLAGS.depth,
                                         block=FLAGS.block)
  keras.mixed_precision.set_global_policy(FLAGS.mixed_precision or "float32")
  compile_options = {"jit_compile": FLAGS.jit_compile,
                     "steps_per_execution": FLAGS.steps_per_execution}
  rounds, counted = measure(model_config, shape, FLAGS.batch_size,
                            FLAGS.steps, FLAGS.repeats, FLAGS.sparsity,
                            FLAGS.modes, compile_options,
                            FLAGS.pipeline_dataset, FLAGS.data_dir)
  result = report(rounds, FLAGS.batch_size)
  seconds = result["seconds_per_step"]
  result["setup"] = {"model": FLAGS.model, "depth": FLAGS.depth,
                     "shape": list(shape), "batch_size": FLAGS.batch_size,
                     "steps": FLAGS.steps, "repeats": FLAGS.repeats,
                     "sparsity": FLAGS.sparsity,
                     "jit_compile": FLAGS.jit_compile,
                     "mixed_precision": FLAGS.mixed_precision or "float32",
                     "steps_per_execution": FLAGS.steps_per_execution,
                     "steps_per_round": counted,
                     "pipeline_dataset": FLAGS.pipeline_dataset}
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w") as stream:
      json.dump(result, stream, indent=2)
  if FLAGS.format == "json":
    print(json.dumps(result, indent=2))
    return 0
  print(f"{FLAGS.model} batch {FLAGS.batch_size}, input {shape}, "
        f"{FLAGS.steps} steps x {FLAGS.repeats} repeats (median), "
        f"jit_compile={FLAGS.jit_compile}, "
        f"policy={FLAGS.mixed_precision or 'float32'}")
  print(f"{'mode':<16} {'images/s':>10} {'ms/step':>9}")
  for mode, value in seconds.items():
    print(f"{mode:<16} {FLAGS.batch_size / value:>10.0f} {1000 * value:>9.2f}")
  for name, value in result["ratios"].items():
    print(f"{name:<30} {value:.3f}")
  return 0


if __name__ == "__main__":
  app.run(main)
