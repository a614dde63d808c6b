r"""Command line: find lottery tickets, `python -m kdticket_tf.train --flagfile=...`.

The only module that defines or reads flags: flags -> `LotteryConfig` ->
`kdticket_tf.lottery.run_lottery(config, workdir)`.

    python -m kdticket_tf.train --flagfile=configs/quickstart.flags \
        --workdir=workdirs/quickstart
"""

import os
import sys

import kdticket_tf  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported
from absl import app
from absl import flags
from absl import logging

from kdticket_tf import config as config_lib
from kdticket_tf import logs
from kdticket_tf import recipes as recipes_lib
from kdticket_tf import workdir as workdir_lib

FLAGS = flags.FLAGS

flags.DEFINE_string("workdir", None, "Output folder; a rerun resumes it.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_bool("overwrite", False,
                  "Move an earlier run in --workdir aside (to "
                  "<workdir>.replaced-<time>) and start again.")
# Data.
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset name (TFDS naming).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir / folder of IDX files.")
flags.DEFINE_integer("batch_size", 128, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size.")
flags.DEFINE_integer("validation_size", 0,
                     "Training examples held out for validation.")
flags.DEFINE_enum("augment", "auto", ["auto", "true", "false"],
                  "Random training augmentation (auto: the dataset's standard).")
flags.DEFINE_integer("train_size", 0, "Use only N training examples (0: all).")
flags.DEFINE_list("synthetic_shape", ["28", "28", "1"],
                  "Input shape of the synthetic dataset.")
flags.DEFINE_integer("synthetic_classes", 10, "Classes of the synthetic dataset.")
flags.DEFINE_integer("synthetic_examples", 1024,
                     "Training examples of the synthetic dataset.")
# Model.
flags.DEFINE_string("model", "lenet_300_100", "Model name.")
flags.DEFINE_integer("depth", 20, "Depth of resnet_cifar.")
flags.DEFINE_enum("block", "basic", ["basic", "bottleneck"],
                  "Residual block of resnet_cifar.")
flags.DEFINE_integer("width", 16, "First-stage channels of resnet_cifar.")
# Training.
flags.DEFINE_integer("epochs", None, "Training length in epochs.")
flags.DEFINE_integer("train_steps", None, "Training length in steps.")
flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam"], "Optimizer.")
flags.DEFINE_float("lr", 0.1, "Peak learning rate.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_bool("nesterov", False, "Nesterov momentum.")
flags.DEFINE_enum("lr_schedule", "constant", ["constant", "step", "cosine"],
                  "Learning-rate schedule.")
flags.DEFINE_list("lr_milestones", [],
                  "Step schedule milestones, durations such as 90ep,135ep.")
flags.DEFINE_float("lr_decay", 0.1, "Step schedule factor.")
flags.DEFINE_string("warmup", "0it", "Linear warm-up length (e.g. 5ep).")
flags.DEFINE_float("weight_decay", 0.0, "Coupled L2 weight decay.")
flags.DEFINE_integer("seed", 0, "Seed of init, data order and random masks.")
flags.DEFINE_bool("deterministic", False, "Use TensorFlow's deterministic ops.")
flags.DEFINE_integer("verbose", 1,
                     "0: a line per finished stage; 1: also a line per epoch; "
                     "2: also TensorFlow's own logs.")
flags.DEFINE_bool("jit_compile", False, "Compile train/test steps with XLA.")
flags.DEFINE_enum("mixed_precision", "", ["", "mixed_float16", "mixed_bfloat16"],
                  "Keras mixed precision policy ('' for float32).")
flags.DEFINE_integer("steps_per_execution", 1,
                     "Training steps per call into the compiled function.")
# Pruning.
flags.DEFINE_enum("prune_schedule", "iterative", ["iterative", "oneshot"],
                  "IMP or one-shot pruning.")
flags.DEFINE_float("prune_fraction", 0.2,
                   "Fraction of surviving weights pruned per iterative level.")
flags.DEFINE_integer("levels", 3,
                     "Number of pruned levels (0: the dense run only).")
flags.DEFINE_list("target_sparsities", [],
                  "Oneshot target sparsities (default: 1-(1-p)^k).")
flags.DEFINE_enum("prune_scope", "global", ["global", "layerwise"],
                  "Rank all prunable weights together or per layer.")
flags.DEFINE_list("keep_dense", [], "Regexes of layer names to leave dense.")
flags.DEFINE_list("recipes", ["lt"],
                  "Retraining recipes: " + ", ".join(recipes_lib.names()))
flags.DEFINE_string("rewind_step", "0it", "Rewind step k: 500it or 2ep.")
flags.DEFINE_float("finetune_lr", None,
                   "Constant LR of the finetune recipe (default: the rate of "
                   "the schedule's last step).")
flags.DEFINE_list("layer_prune_fractions", [],
                  "regex:fraction pairs for iterative layer-wise pruning: a "
                  "layer whose name matches loses that fraction per level "
                  "(e.g. logits:0.1).")
# Distillation (KD ticket).
flags.DEFINE_float("kd_alpha", 0.9, "Weight of the distillation term.")
flags.DEFINE_float("kd_temperature", 5.0, "Distillation temperature.")
flags.DEFINE_enum("kd_reduction", "batchmean", ["batchmean", "mean"],
                  "KL averaged over the batch, or over batch x classes.")
flags.DEFINE_integer("kd_stop_epoch", None,
                     "Train on hard labels only from this epoch on.")
flags.DEFINE_string("kd_teacher", "dense",
                    "dense, previous_level, or a path to teacher weights or a "
                    "Keras SavedModel.")
# Distribution.
flags.DEFINE_enum("strategy", "auto",
                  ["auto", "mirrored", "multi_worker", "one_device"],
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("virtual_cpus", 0,
                     "Split the host CPU into N logical devices (testing the "
                     "mirrored path without GPUs).")
# Executor: where the stages of the search run.
flags.DEFINE_enum("executor", "sequential", ["sequential", "local", "ray"],
                  "sequential: one stage at a time in this process; local: "
                  "--workers processes on this machine; ray: Ray tasks (a "
                  "local Ray, or the cluster of --ray_address).")
flags.DEFINE_integer("workers", 2, "Worker processes of --executor=local.")
flags.DEFINE_integer("gpus_per_worker", None,
                     "GPUs of each local worker (default: the visible GPUs "
                     "shared out evenly).")
flags.DEFINE_integer("threads_per_stage", 0,
                     "TensorFlow threads of each stage in a worker (0: the "
                     "cores shared out; with --deterministic, what a "
                     "sequential run uses).")
flags.DEFINE_float("stage_cpus", 1.0, "CPUs each Ray task asks for.")
flags.DEFINE_float("stage_gpus", 0.0, "GPUs each Ray task asks for.")
flags.DEFINE_string("ray_address", "",
                    "Empty: start a local Ray; auto or host:port: join a "
                    "running Ray cluster (the workdir on storage every node "
                    "sees).")
# Export.
flags.DEFINE_bool("export", True,
                  "Export each finished level as a servable SavedModel ticket.")
flags.DEFINE_bool("export_tflite", False,
                  "Also convert each ticket to TFLite (sparsity optimisation).")
flags.DEFINE_bool("kd_cache_teacher_logits", False,
                  "Compute the teacher's logits once (no augmentation only).")


def _duration(name, text):
  return config_lib.Duration.parse(text, name)


def config_from_flags():
  """Builds the `LotteryConfig` from the parsed flags.

  Raises:
    ValueError: with one sentence naming the bad flag.
  """
  if (FLAGS.epochs is None) == (FLAGS.train_steps is None):
    raise ValueError("give exactly one of --epochs and --train_steps.")
  for name in ("epochs", "train_steps"):
    value = getattr(FLAGS, name)
    if value is not None and value < 1:
      raise ValueError(f"--{name}={value} must be at least 1.")
  duration = (config_lib.Duration(FLAGS.epochs, "ep") if FLAGS.epochs is not None
              else config_lib.Duration(FLAGS.train_steps, "it"))
  layer_fractions = []
  for item in FLAGS.layer_prune_fractions:
    pattern, _, fraction = item.rpartition(":")
    try:
      layer_fractions.append((pattern, float(fraction)))
    except ValueError:
      raise ValueError(
          f"--layer_prune_fractions item {item!r} is not regex:fraction, for "
          "example logits:0.1.") from None
  try:
    shape = tuple(int(d) for d in FLAGS.synthetic_shape)
    targets = tuple(float(t) for t in FLAGS.target_sparsities)
  except ValueError:
    raise ValueError(
        "--synthetic_shape must be integers and --target_sparsities numbers, "
        f"got {FLAGS.synthetic_shape} and {FLAGS.target_sparsities}.") from None
  return config_lib.LotteryConfig(
      recipes=tuple(FLAGS.recipes),
      data=config_lib.DataConfig(
          dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
          batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.eval_batch_size,
          validation_size=FLAGS.validation_size,
          augment={"auto": None, "true": True, "false": False}[FLAGS.augment],
          train_size=FLAGS.train_size, synthetic_shape=shape,
          synthetic_classes=FLAGS.synthetic_classes,
          synthetic_examples=FLAGS.synthetic_examples),
      model=config_lib.ModelConfig(name=FLAGS.model, depth=FLAGS.depth,
                                   block=FLAGS.block, width=FLAGS.width),
      train=config_lib.TrainConfig(
          duration=duration, optimizer=FLAGS.optimizer, learning_rate=FLAGS.lr,
          momentum=FLAGS.momentum, nesterov=FLAGS.nesterov,
          lr_schedule=FLAGS.lr_schedule,
          milestones=tuple(_duration("lr_milestones", m)
                           for m in FLAGS.lr_milestones),
          lr_decay=FLAGS.lr_decay, warmup=_duration("warmup", FLAGS.warmup),
          weight_decay=FLAGS.weight_decay, seed=FLAGS.seed,
          deterministic=FLAGS.deterministic, verbose=FLAGS.verbose,
          jit_compile=FLAGS.jit_compile,
          mixed_precision=FLAGS.mixed_precision,
          steps_per_execution=FLAGS.steps_per_execution),
      pruning=config_lib.PruningConfig(
          schedule=FLAGS.prune_schedule, fraction=FLAGS.prune_fraction,
          levels=FLAGS.levels, target_sparsities=targets,
          scope=FLAGS.prune_scope, keep_dense=tuple(FLAGS.keep_dense),
          rewind_step=_duration("rewind_step", FLAGS.rewind_step),
          finetune_lr=FLAGS.finetune_lr,
          layer_fractions=tuple(layer_fractions)),
      distill=config_lib.DistillConfig(
          alpha=FLAGS.kd_alpha, temperature=FLAGS.kd_temperature,
          reduction=FLAGS.kd_reduction, stop_epoch=FLAGS.kd_stop_epoch,
          teacher=FLAGS.kd_teacher,
          cache_teacher_logits=FLAGS.kd_cache_teacher_logits),
      export=config_lib.ExportConfig(saved_model=FLAGS.export,
                                     tflite=FLAGS.export_tflite),
      distribute=config_lib.DistributeConfig(strategy=FLAGS.strategy,
                                             virtual_cpus=FLAGS.virtual_cpus),
      executor=config_lib.ExecutorConfig(
          name=FLAGS.executor, workers=FLAGS.workers,
          gpus_per_worker=FLAGS.gpus_per_worker,
          threads=FLAGS.threads_per_stage, stage_cpus=FLAGS.stage_cpus,
          stage_gpus=FLAGS.stage_gpus, ray_address=FLAGS.ray_address))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logs.start_tensorflow(FLAGS.verbose)
  # Imported once TensorFlow has started (quietly unless --verbose=2).
  # pylint: disable=g-import-not-at-top
  from kdticket_tf import distribute
  from kdticket_tf import lottery
  try:
    config = config_from_flags()
    distribute.configure_virtual_cpus(config.distribute.virtual_cpus)
    search = lottery.prepare(config, FLAGS.workdir)
    search.run(overwrite=FLAGS.overwrite,
               files={"flags.txt": FLAGS.flags_into_string()})
  except (ValueError, OSError, lottery.LotteryFailedError,
          workdir_lib.WorkdirInUseError) as error:
    print(f"kdticket_tf.train: error: {error}", file=sys.stderr)
    return 1
  with open(os.path.join(FLAGS.workdir, "results.md"), encoding="utf-8") as f:
    print(f.read())
  logging.info("Results in %s", FLAGS.workdir)
  return 0


def run():
  """Console-script entry point."""
  app.run(main)


if __name__ == "__main__":
  run()
