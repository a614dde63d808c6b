"""Frozen, validated configuration objects for a lottery ticket search.

One path only: flagfile -> absl flags -> these dataclasses. Each field is
declared once with `fields.setting`: its default, its flag and help text,
whether it changes results, whether it is an HParams column; the command line
(`train.py`, through `settings.py`) is generated from them, and `settings.py`
reads and writes them as a workdir's `config.json`. Library code takes
these objects and never reads flags. Every `__post_init__` validates its fields
and raises `ValueError` with one sentence naming the field
(`PruningConfig.fraction=1.5 ...`), the bad value and what would be accepted.
"""

import dataclasses
from typing import Optional, Tuple

from kdticket_tf.config import analysis as analysis_config
from kdticket_tf.config import fields
from kdticket_tf.config import pruning as pruning_config
from kdticket_tf.training import recipes as recipes_lib
from kdticket_tf.config import runtime as runtime_config

Duration = fields.Duration
setting = fields.setting

@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which dataset to read and how to batch it.

  Attributes:
    dataset: Registered dataset name (`fashion_mnist`, `mnist`, `cifar10`,
      `cifar100`, `imagenet2012`, `synthetic`).
    data_dir: TFDS data directory (and where IDX files are looked for); None for
      the TFDS default.
    batch_size: Global training batch size (split across replicas).
    eval_batch_size: Batch size for evaluation.
    validation_size: Number of training examples held out for validation
      (taken by a fixed permutation); 0 for none.
    augment: Random training augmentation (CIFAR pad-4 crop + flip, ImageNet
      random resized crop + flip); None means the dataset's standard choice.
    train_size: Use only the first N training examples (0 = all); for quick runs.
    synthetic_shape: Input shape of the `synthetic` dataset.
    synthetic_classes: Number of classes of the `synthetic` dataset.
    synthetic_examples: Number of training examples of the `synthetic` dataset.
  """
  dataset: str = setting("fashion_mnist", "dataset",
                         "Dataset name (TFDS naming).")
  data_dir: Optional[str] = setting(None, "data_dir",
                                    "TFDS data_dir / folder of IDX files.",
                                    kind="string")
  batch_size: int = setting(128, "batch_size", "Global training batch size.")
  eval_batch_size: int = setting(1000, "eval_batch_size",
                                 "Evaluation batch size.")
  validation_size: int = setting(0, "validation_size",
                                 "Training examples held out for validation.")
  augment: Optional[bool] = setting(
      None, "augment",
      "Random training augmentation (auto: the dataset's standard).",
      kind="tristate")
  train_size: int = setting(0, "train_size",
                            "Use only N training examples (0: all).")
  synthetic_shape: Tuple[int, ...] = setting(
      (28, 28, 1), "synthetic_shape", "Input shape of the synthetic dataset.",
      kind="int_list")
  synthetic_classes: int = setting(10, "synthetic_classes",
                                   "Classes of the synthetic dataset.")
  synthetic_examples: int = setting(
      1024, "synthetic_examples",
      "Training examples of the synthetic dataset.")

  def __post_init__(self):
    fields.check_positive(self, "batch_size")
    fields.check_positive(self, "eval_batch_size")
    fields.check_at_least(self, "validation_size", 0)
    fields.check_at_least(self, "train_size", 0)
    if not self.synthetic_shape or any(d <= 0 for d in self.synthetic_shape):
      raise fields.wrong(self, "synthetic_shape",
                         "must be positive sizes, for example 28,28,1.")
    fields.check_at_least(self, "synthetic_classes", 2)
    fields.check_positive(self, "synthetic_examples")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Which network to build.

  Attributes:
    name: Registered model name (`lenet_300_100`, `conv2`, `conv4`, `conv6`,
      `resnet_cifar`, `vgg16`, `vgg19`, `resnet50`, `mlp1d`, `conv1d`,
      `resnet1d`), or `package.module:function`: your own function
      `function(input_shape, num_classes)` that returns a fresh, uncompiled
      Keras model with one output of logits `[batch, num_classes]`, imported
      from the Python path (see `kdticket_tf.models.user_function`).
    depth: Depth of `resnet_cifar` (and `resnet1d`, basic blocks only): 6n+2
      for basic blocks (20, 32, 44, 56, 110), 9n+2 for bottleneck blocks
      (29, 56, 110, ...).
    block: `basic` or `bottleneck` (the KD ticket reference code's ResNet-56/110).
    width: Channels of the first stage of `resnet_cifar` and `resnet1d`, of
      every layer of `conv1d`; hidden units of `mlp1d`.
  """
  name: str = setting(
      "lenet_300_100", "model", "Model name: a registered architecture, or "
      "package.module:function, your own function (input_shape, num_classes) "
      "returning an uncompiled Keras model of logits, imported from the "
      "Python path.")
  depth: int = setting(20, "depth", "Depth of resnet_cifar.")
  block: str = setting("basic", "block", "Residual block of resnet_cifar.",
                       choices=("basic", "bottleneck"))
  width: int = setting(16, "width", "First-stage channels of resnet_cifar "
                       "and resnet1d; channels of conv1d; units of mlp1d.")

  def __post_init__(self):
    fields.check_choice(self, "block")
    fields.check_positive(self, "width")
    if self.name in ("resnet_cifar", "resnet1d"):
      if self.name == "resnet1d" and self.block != "basic":
        raise fields.wrong(self, "block", "is not available for resnet1d; "
                           "use 'basic'.")
      per_block = 6 if self.block == "basic" else 9
      if self.depth < per_block + 2 or (self.depth - 2) % per_block:
        raise fields.wrong(
            self, "depth", f"is not valid for a {self.block} resnet_cifar; use "
            f"{per_block}n+2, for example "
            f"{'20, 32, 44, 56 or 110' if per_block == 6 else '56 or 110'}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How one network is trained (the dense run and every retraining).

  Attributes:
    duration: Training length (`182ep`, `30000it`).
    optimizer: `sgd` (with momentum) or `adam`.
    learning_rate: Peak learning rate.
    momentum: SGD momentum.
    nesterov: Nesterov momentum for SGD.
    lr_schedule: `constant`, `step` (multiply by `lr_decay` at each milestone) or
      `cosine` (to zero at the end of training).
    milestones: Durations at which `step` multiplies the LR by `lr_decay`.
    lr_decay: The factor of the `step` schedule.
    warmup: Linear warm-up from 0 to `learning_rate` over this duration.
    weight_decay: Coupled L2 weight decay on trainable weights (the gradient gets
      `weight_decay * w`, as PyTorch's SGD `weight_decay`).
    seed: Seed of initialisation, data order and random masks.
    deterministic: Enable TensorFlow's deterministic ops.
    verbose: 0: a line per finished stage; 1: also Keras's line per epoch;
      2: also TensorFlow's own logs (commands only).
    jit_compile: Compile the train and test steps with XLA.
    mixed_precision: Keras mixed precision policy: '' (float32),
      `mixed_float16` (with dynamic loss scaling) or `mixed_bfloat16`.
    steps_per_execution: Steps run per call into the compiled function.
    clip_norm: Clip each step's gradients to this global norm (0: no
      clipping); keeps the KD loss's T^2-scaled gradients in check.
    eval_every: Evaluate on the test and validation sets every this many
      epochs, and at the last one (the epoch of best validation accuracy is
      chosen among those evaluated).
  """
  duration: Duration = setting(
      Duration(2, "ep"), "epochs",
      "Training length in epochs.",
      kind="length")
  optimizer: str = setting("sgd", "optimizer", "Optimizer.",
                           choices=("sgd", "adam"), hparam=True)
  learning_rate: float = setting(0.1, "lr", "Peak learning rate.",
                                 hparam=True)
  momentum: float = setting(0.9, "momentum", "SGD momentum.")
  nesterov: bool = setting(False, "nesterov", "Nesterov momentum.")
  lr_schedule: str = setting("constant", "lr_schedule",
                             "Learning-rate schedule.",
                             choices=("constant", "step", "cosine"))
  milestones: Tuple[Duration, ...] = setting(
      (), "lr_milestones",
      "Step schedule milestones, durations such as 90ep,135ep.",
      kind="duration_list")
  lr_decay: float = setting(0.1, "lr_decay", "Step schedule factor.")
  warmup: Duration = setting(Duration(0, "it"), "warmup",
                             "Linear warm-up length (e.g. 5ep).")
  weight_decay: float = setting(0.0, "weight_decay", "Coupled L2 weight decay.")
  seed: int = setting(0, "seed", "Seed of init, data order and random masks.",
                      hparam=True)
  deterministic: bool = setting(False, "deterministic",
                                "Use TensorFlow's deterministic ops.")
  verbose: int = setting(
      1, "verbose", "0: a line per finished stage; 1: also a line per epoch; "
      "2: also TensorFlow's own logs.", choices=(0, 1, 2), kind="integer",
      neutral=True)
  jit_compile: bool = setting(False, "jit_compile",
                              "Compile train/test steps with XLA.")
  mixed_precision: str = setting(
      "", "mixed_precision", "Keras mixed precision policy ('' for float32).",
      choices=("", "mixed_float16", "mixed_bfloat16"))
  steps_per_execution: int = setting(
      1, "steps_per_execution",
      "Training steps per call into the compiled function.", neutral=True)
  clip_norm: float = setting(0.0, "clip_norm",
                             "Clip gradients to this global norm (0: no).")
  eval_every: int = setting(1, "eval_every",
                            "Evaluate every N epochs (and at the last one).")

  def __post_init__(self):
    fields.check_choice(self, "optimizer")
    fields.check_choice(self, "mixed_precision")
    fields.check_at_least(self, "steps_per_execution", 1)
    fields.check_choice(self, "lr_schedule")
    fields.check_positive(self, "learning_rate")
    if self.duration.value <= 0:
      raise fields.wrong(self, "duration",
                         "must be at least 1 step or epoch.")
    if not 0.0 <= self.momentum < 1.0:
      raise fields.wrong(self, "momentum", "must be in [0, 1).")
    fields.check_at_least(self, "weight_decay", 0)
    if not 0.0 < self.lr_decay <= 1.0:
      raise fields.wrong(self, "lr_decay", "must be in (0, 1].")
    if self.lr_schedule == "step" and not self.milestones:
      raise ValueError(
          "TrainConfig.lr_schedule='step' needs TrainConfig.milestones, for "
          "example 90ep,135ep.")
    fields.check_choice(self, "verbose")
    fields.check_at_least(self, "clip_norm", 0)
    fields.check_at_least(self, "eval_every", 1)

  def total_steps(self, steps_per_epoch):
    """Returns the number of optimizer steps of a full training."""
    return self.duration.to_steps(steps_per_epoch)


PruningConfig = pruning_config.PruningConfig


@dataclasses.dataclass(frozen=True)
class DistillConfig:
  """The KD ticket's distillation loss and teacher.

  Attributes:
    alpha: Weight of the distillation term (1 - alpha weighs the hard labels).
    temperature: Softmax temperature T.
    reduction: `batchmean` (KL summed over classes, averaged over the batch) or
      `mean` (averaged over batch x classes, as the reference CIFAR script).
    stop_epoch: After this many epochs train on hard labels only (None: never).
    teacher: `dense` (the trained dense model), `previous_level`, or a path to a
      SavedModel or weights file of a compatible model.
    cache_teacher_logits: Compute the teacher's logits once and reuse them (only
      when the training input has no random augmentation).
  """
  alpha: float = setting(0.9, "kd_alpha", "Weight of the distillation term.",
                         hparam=True)
  temperature: float = setting(5.0, "kd_temperature",
                               "Distillation temperature.", hparam=True)
  reduction: str = setting(
      "batchmean", "kd_reduction",
      "KL averaged over the batch, or over batch x classes.",
      choices=("batchmean", "mean"))
  stop_epoch: Optional[int] = setting(
      None, "kd_stop_epoch", "Train on hard labels only from this epoch on.",
      kind="integer")
  teacher: str = setting(
      "dense", "kd_teacher",
      "dense, previous_level, or a path to teacher weights or a Keras "
      "SavedModel.")
  cache_teacher_logits: bool = setting(
      False, "kd_cache_teacher_logits",
      "Compute the teacher's logits once (no augmentation only).")

  def __post_init__(self):
    if not 0.0 <= self.alpha <= 1.0:
      raise fields.wrong(self, "alpha", "must be in [0, 1].")
    fields.check_positive(self, "temperature")
    fields.check_choice(self, "reduction")
    if self.stop_epoch is not None:
      fields.check_at_least(self, "stop_epoch", 0)
    if not self.teacher:
      raise fields.wrong(self, "teacher",
                         "is empty; use 'dense', 'previous_level' or a path.")


DistributeConfig = runtime_config.DistributeConfig
ExecutorConfig = runtime_config.ExecutorConfig
ExportConfig = runtime_config.ExportConfig
AnalysisConfig = analysis_config.AnalysisConfig


@dataclasses.dataclass(frozen=True)
class LotteryConfig:
  """Everything a lottery ticket search needs besides the workdir.

  Attributes:
    recipes: Names of retraining recipes (see `kdticket_tf.recipes`).
    data: The dataset.
    model: The network.
    train: The training recipe of the dense run (retrainings derive from it).
    pruning: How masks are found.
    distill: The distillation settings of KD recipes.
    export: What is exported as levels finish.
    distribute: The distribution strategy.
    executor: Where the stages run.
    analysis: The instability analysis (and `rewind_step=auto`).
  """
  recipes: Tuple[str, ...] = setting(
      ("lt",), "recipes",
      "Retraining recipes: " + ", ".join(recipes_lib.names()), kind="list",
      neutral=True)
  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  pruning: PruningConfig = PruningConfig()
  distill: DistillConfig = DistillConfig()
  export: ExportConfig = ExportConfig()
  distribute: DistributeConfig = DistributeConfig()
  executor: ExecutorConfig = ExecutorConfig()
  analysis: AnalysisConfig = AnalysisConfig()

  def __post_init__(self):
    if not self.recipes:
      raise ValueError(
          "LotteryConfig.recipes is empty; give at least one, for example "
          "'lt'.")
    for name in self.recipes:
      source = recipes_lib.get(name).masks_from
      if source and source not in self.recipes:
        raise ValueError(
            f"Recipe {name!r} takes its masks from {source!r}, which is not in "
            f"LotteryConfig.recipes={list(self.recipes)}; add {source!r} to "
            "the recipes.")
    if len(set(self.recipes)) != len(self.recipes):
      raise fields.wrong(self, "recipes", "names a recipe twice.")
    if (self.executor.name != "sequential" and
        self.distribute.strategy == "multi_worker"):
      raise ValueError(
          f"ExecutorConfig.name={self.executor.name!r} cannot run "
          "DistributeConfig.strategy='multi_worker' stages; use the "
          "'sequential' executor on every machine of a multi-worker run.")
