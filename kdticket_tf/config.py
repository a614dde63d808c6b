"""Frozen, validated configuration objects for a lottery ticket search.

One path only: flagfile -> absl flags (in `train.py`) -> these dataclasses. Library
code takes these objects and never reads flags. Every `__post_init__` validates its
fields and raises `ValueError` with one sentence naming the field, the bad value and
what would be accepted.
"""

import dataclasses
import math
import re
from typing import Optional, Tuple

from kdticket_tf import recipes as recipes_lib

_DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*(it|ep)\s*$")


@dataclasses.dataclass(frozen=True)
class Duration:
  """A length of training given in iterations (`500it`) or epochs (`3ep`).

  Attributes:
    value: The non-negative number of units.
    unit: `it` (optimizer steps) or `ep` (epochs).
  """
  value: int
  unit: str

  def __post_init__(self):
    if self.unit not in ("it", "ep"):
      raise ValueError(f"Duration unit {self.unit!r} is not 'it' or 'ep'.")
    if self.value < 0:
      raise ValueError(f"Duration {self.value}{self.unit} is negative.")

  @classmethod
  def parse(cls, text, name="duration"):
    """Parses `500it` or `3ep`.

    Args:
      text: The string to parse (a `Duration` is returned unchanged).
      name: The name of the setting, used in the error message.

    Returns:
      A `Duration`.

    Raises:
      ValueError: if `text` is not a number followed by `it` or `ep`.
    """
    if isinstance(text, Duration):
      return text
    match = _DURATION_PATTERN.match(str(text))
    if not match:
      raise ValueError(
          f"{name}={text!r} is not a duration; write a whole number followed by "
          "'it' (iterations) or 'ep' (epochs), for example '500it' or '3ep'.")
    return cls(int(match.group(1)), match.group(2))

  def to_steps(self, steps_per_epoch):
    """Returns the number of optimizer steps for `steps_per_epoch`."""
    if self.unit == "it":
      return self.value
    return self.value * steps_per_epoch

  def __str__(self):
    return f"{self.value}{self.unit}"


def _check_choice(name, value, choices):
  if value not in choices:
    raise ValueError(
        f"{name}={value!r} is not supported; choose one of: "
        f"{', '.join(sorted(choices))}.")


def _check_positive(name, value):
  if not value > 0:
    raise ValueError(f"{name}={value!r} must be greater than 0.")


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
  dataset: str = "fashion_mnist"
  data_dir: Optional[str] = None
  batch_size: int = 128
  eval_batch_size: int = 1000
  validation_size: int = 0
  augment: Optional[bool] = None
  train_size: int = 0
  synthetic_shape: Tuple[int, ...] = (28, 28, 1)
  synthetic_classes: int = 10
  synthetic_examples: int = 1024

  def __post_init__(self):
    _check_positive("batch_size", self.batch_size)
    _check_positive("eval_batch_size", self.eval_batch_size)
    if self.validation_size < 0:
      raise ValueError(
          f"validation_size={self.validation_size} must be 0 or more.")
    if self.train_size < 0:
      raise ValueError(f"train_size={self.train_size} must be 0 or more.")
    if not self.synthetic_shape or any(d <= 0 for d in self.synthetic_shape):
      raise ValueError(
          f"synthetic_shape={self.synthetic_shape!r} must be positive sizes, "
          "for example 28,28,1.")
    if self.synthetic_classes < 2:
      raise ValueError(
          f"synthetic_classes={self.synthetic_classes} must be at least 2.")
    _check_positive("synthetic_examples", self.synthetic_examples)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Which network to build.

  Attributes:
    name: Registered model name (`lenet_300_100`, `conv2`, `conv4`, `conv6`,
      `resnet_cifar`, `vgg16`, `vgg19`, `resnet50`).
    depth: Depth of `resnet_cifar`: 6n+2 for basic blocks (20, 32, 44, 56, 110),
      9n+2 for bottleneck blocks (29, 56, 110, ...).
    block: `basic` or `bottleneck` (the KD ticket reference code's ResNet-56/110).
    width: Channels of the first stage of `resnet_cifar`.
  """
  name: str = "lenet_300_100"
  depth: int = 20
  block: str = "basic"
  width: int = 16

  def __post_init__(self):
    _check_choice("block", self.block, ("basic", "bottleneck"))
    _check_positive("width", self.width)
    if self.name == "resnet_cifar":
      per_block = 6 if self.block == "basic" else 9
      if self.depth < per_block + 2 or (self.depth - 2) % per_block:
        raise ValueError(
            f"depth={self.depth} is not valid for a {self.block} resnet_cifar; "
            f"use {per_block}n+2, for example "
            f"{'20, 32, 44, 56 or 110' if per_block == 6 else '56 or 110'}.")


_OPTIMIZERS = ("sgd", "adam")
_LR_SCHEDULES = ("constant", "step", "cosine")


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
  """
  duration: Duration = Duration(2, "ep")
  optimizer: str = "sgd"
  learning_rate: float = 0.1
  momentum: float = 0.9
  nesterov: bool = False
  lr_schedule: str = "constant"
  milestones: Tuple[Duration, ...] = ()
  lr_decay: float = 0.1
  warmup: Duration = Duration(0, "it")
  weight_decay: float = 0.0
  seed: int = 0
  deterministic: bool = False
  verbose: int = 1
  jit_compile: bool = False
  mixed_precision: str = ""
  steps_per_execution: int = 1

  def __post_init__(self):
    _check_choice("optimizer", self.optimizer, _OPTIMIZERS)
    _check_choice("mixed_precision", self.mixed_precision,
                  ("", "mixed_float16", "mixed_bfloat16"))
    if self.steps_per_execution < 1:
      raise ValueError(
          f"steps_per_execution={self.steps_per_execution} must be at least 1.")
    _check_choice("lr_schedule", self.lr_schedule, _LR_SCHEDULES)
    _check_positive("learning_rate (--lr)", self.learning_rate)
    if self.duration.value <= 0:
      raise ValueError(
          f"training length {self.duration} (--epochs / --train_steps) must be "
          "at least 1 step or epoch.")
    if not 0.0 <= self.momentum < 1.0:
      raise ValueError(f"momentum={self.momentum} must be in [0, 1).")
    if self.weight_decay < 0:
      raise ValueError(f"weight_decay={self.weight_decay} must be 0 or more.")
    if not 0.0 < self.lr_decay <= 1.0:
      raise ValueError(f"lr_decay={self.lr_decay} must be in (0, 1].")
    if self.lr_schedule == "step" and not self.milestones:
      raise ValueError(
          "lr_schedule='step' needs lr_milestones, for example "
          "--lr_milestones=90ep,135ep.")
    if self.verbose not in (0, 1, 2):
      raise ValueError(f"verbose={self.verbose} must be 0, 1 or 2.")

  def total_steps(self, steps_per_epoch):
    """Returns the number of optimizer steps of a full training."""
    return self.duration.to_steps(steps_per_epoch)


@dataclasses.dataclass(frozen=True)
class PruningConfig:
  """How masks are found at each level.

  Attributes:
    schedule: `iterative` (IMP: each level removes `fraction` of the surviving
      weights) or `oneshot` (the dense final weights pruned to each target).
    fraction: Fraction of surviving weights removed per iterative level.
    levels: Number of pruned levels; 0 runs the dense network only (to train
      a teacher, or to choose a training recipe on the validation split).
    target_sparsities: Oneshot targets (increasing, in (0, 1)); empty means
      1-(1-fraction)^k for k = 1..levels, the same sparsities as IMP.
    scope: `global` (rank all prunable weights together) or `layerwise` (prune
      each layer by the same fraction).
    keep_dense: Regular expressions; layers whose name matches one fully are
      left dense (never wrapped, never pruned).
    rewind_step: The step k of weight rewinding (`500it`, `2ep`).
    finetune_lr: Constant learning rate of the `finetune` recipe; None for
      the schedule's final learning rate (its rate at the last step; nearly 0
      for `cosine`, so give one there).
    layer_fractions: `(regex, fraction)` pairs of iterative layer-wise
      pruning: a layer whose name matches a regex fully (the first that does)
      loses that fraction of its surviving weights per level instead of
      `fraction` (Frankle & Carbin prune the output layer at half the rate).
  """
  schedule: str = "iterative"
  fraction: float = 0.2
  levels: int = 3
  target_sparsities: Tuple[float, ...] = ()
  scope: str = "global"
  keep_dense: Tuple[str, ...] = ()
  rewind_step: Duration = Duration(0, "it")
  finetune_lr: Optional[float] = None
  layer_fractions: Tuple[Tuple[str, float], ...] = ()

  def __post_init__(self):
    _check_choice("prune_schedule", self.schedule, ("iterative", "oneshot"))
    _check_choice("prune_scope", self.scope, ("global", "layerwise"))
    if not 0.0 < self.fraction < 1.0:
      raise ValueError(
          f"prune_fraction={self.fraction} must be strictly between 0 and 1.")
    if self.levels < 0:
      raise ValueError(
          f"levels={self.levels} must be 0 (the dense run only) or more.")
    if self.target_sparsities:
      if self.schedule != "oneshot":
        raise ValueError(
            "target_sparsities is only used by prune_schedule='oneshot'; "
            "remove it or set --prune_schedule=oneshot.")
      targets = self.target_sparsities
      if any(not 0.0 < t < 1.0 for t in targets):
        raise ValueError(
            f"target_sparsities={list(targets)} must all lie strictly between "
            "0 and 1.")
      if any(b <= a for a, b in zip(targets, targets[1:])):
        raise ValueError(
            f"target_sparsities={list(targets)} must be strictly increasing.")
    for pattern in self.keep_dense:
      try:
        re.compile(pattern)
      except re.error as error:
        raise ValueError(
            f"keep_dense pattern {pattern!r} is not a regular expression "
            f"({error}).") from None
    if self.finetune_lr is not None:
      _check_positive("finetune_lr", self.finetune_lr)
    for pattern, fraction in self.layer_fractions:
      try:
        re.compile(pattern)
      except re.error as error:
        raise ValueError(
            f"layer_prune_fractions pattern {pattern!r} is not a regular "
            f"expression ({error}).") from None
      if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"layer_prune_fractions gives {pattern!r} the fraction {fraction}; "
            "it must be strictly between 0 and 1.")
    if self.layer_fractions and (self.scope, self.schedule) != ("layerwise",
                                                                "iterative"):
      raise ValueError(
          "layer_prune_fractions applies to iterative layer-wise pruning, but "
          f"prune_scope={self.scope!r} and prune_schedule={self.schedule!r}; "
          "set prune_scope='layerwise' and prune_schedule='iterative', or drop "
          "layer_prune_fractions.")

  def fraction_of(self, layer_name):
    """Returns the fraction pruned per level from the layer `layer_name`."""
    for pattern, fraction in self.layer_fractions:
      if re.fullmatch(pattern, layer_name):
        return fraction
    return self.fraction

  @property
  def num_levels(self):
    """Number of pruned levels (targets given explicitly count for oneshot)."""
    return len(self.target_sparsities) or self.levels

  def expected_sparsity(self, level):
    """Returns the nominal sparsity after `level` (1-based) pruned levels."""
    if self.target_sparsities:
      return self.target_sparsities[level - 1]
    return 1.0 - math.pow(1.0 - self.fraction, level)


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
  alpha: float = 0.9
  temperature: float = 5.0
  reduction: str = "batchmean"
  stop_epoch: Optional[int] = None
  teacher: str = "dense"
  cache_teacher_logits: bool = False

  def __post_init__(self):
    if not 0.0 <= self.alpha <= 1.0:
      raise ValueError(f"kd_alpha={self.alpha} must be in [0, 1].")
    _check_positive("kd_temperature", self.temperature)
    _check_choice("kd_reduction", self.reduction, ("batchmean", "mean"))
    if self.stop_epoch is not None and self.stop_epoch < 0:
      raise ValueError(f"kd_stop_epoch={self.stop_epoch} must be 0 or more.")
    if not self.teacher:
      raise ValueError(
          "kd_teacher is empty; use 'dense', 'previous_level' or a path.")


@dataclasses.dataclass(frozen=True)
class DistributeConfig:
  """How training is spread over devices and machines.

  Attributes:
    strategy: `auto`, `mirrored`, `multi_worker` or `one_device`.
    virtual_cpus: Split the host CPU into this many logical devices (0: no).
  """
  strategy: str = "auto"
  virtual_cpus: int = 0

  def __post_init__(self):
    _check_choice("strategy", self.strategy,
                  ("auto", "mirrored", "multi_worker", "one_device"))
    if self.virtual_cpus < 0:
      raise ValueError(f"virtual_cpus={self.virtual_cpus} must be 0 or more.")


@dataclasses.dataclass(frozen=True)
class ExecutorConfig:
  """Where the stages of a search run (does not change any result).

  Attributes:
    name: `sequential` (one stage at a time in this process), `local` (worker
      processes on this machine) or `ray` (Ray tasks, on a local Ray or on a
      cluster whose nodes share the workdir).
    workers: Worker processes of `local`.
    gpus_per_worker: GPUs of each `local` worker; None shares the visible GPUs
      out evenly.
    threads: TensorFlow threads of each stage in a `local` or `ray` worker; 0
      shares the cores out (`local`) or uses `stage_cpus` (`ray`), except
      under `TrainConfig.deterministic`, where stages keep the threads a
      sequential run uses, so every executor gives the same bits.
    stage_cpus: CPUs a Ray task asks for.
    stage_gpus: GPUs a Ray task asks for.
    ray_address: '' starts a local Ray; `auto` or `host:port` joins a running
      Ray cluster.
  """
  name: str = "sequential"
  workers: int = 2
  gpus_per_worker: Optional[int] = None
  threads: int = 0
  stage_cpus: float = 1.0
  stage_gpus: float = 0.0
  ray_address: str = ""

  def __post_init__(self):
    _check_choice("executor", self.name, ("sequential", "local", "ray"))
    if self.workers < 1:
      raise ValueError(f"workers={self.workers} must be at least 1.")
    if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
      raise ValueError(
          f"gpus_per_worker={self.gpus_per_worker} must be 0 or more.")
    if self.threads < 0:
      raise ValueError(f"threads={self.threads} must be 0 or more.")
    _check_positive("stage_cpus", self.stage_cpus)
    if self.stage_gpus < 0:
      raise ValueError(f"stage_gpus={self.stage_gpus} must be 0 or more.")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """What is exported as each level finishes (does not change any result).

  Attributes:
    saved_model: Export every finished level as a servable SavedModel ticket.
    tflite: Also convert each ticket to TFLite with sparsity optimisation.
  """
  saved_model: bool = True
  tflite: bool = False


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
  """
  recipes: Tuple[str, ...] = ("lt",)
  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  pruning: PruningConfig = PruningConfig()
  distill: DistillConfig = DistillConfig()
  export: ExportConfig = ExportConfig()
  distribute: DistributeConfig = DistributeConfig()
  executor: ExecutorConfig = ExecutorConfig()

  def __post_init__(self):
    if not self.recipes:
      raise ValueError("recipes is empty; give at least one, for example 'lt'.")
    for name in self.recipes:
      source = recipes_lib.get(name).masks_from
      if source and source not in self.recipes:
        raise ValueError(
            f"Recipe {name!r} takes its masks from {source!r}, which is not in "
            f"recipes={list(self.recipes)}; add {source!r} to the recipes.")
    if len(set(self.recipes)) != len(self.recipes):
      raise ValueError(f"recipes={list(self.recipes)} names a recipe twice.")


def to_dict(config):
  """Returns a JSON-ready dict of a config dataclass (durations as strings)."""
  def convert(value):
    if isinstance(value, Duration):
      return str(value)
    if dataclasses.is_dataclass(value):
      return {f.name: convert(getattr(value, f.name))
              for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
      return [convert(v) for v in value]
    return value
  return convert(config)


def from_dict(values):
  """Rebuilds a `LotteryConfig` from `to_dict` output (a workdir's config.json)."""
  def build(cls, fields):
    kwargs = {}
    for field in dataclasses.fields(cls):
      if field.name not in fields:
        continue
      value = fields[field.name]
      if field.type in (Duration, "Duration"):
        value = Duration.parse(value, field.name)
      elif field.name == "milestones":
        value = tuple(Duration.parse(v, field.name) for v in value)
      elif field.name == "layer_fractions":
        value = tuple((str(p), float(f)) for p, f in value)
      elif isinstance(value, list):
        value = tuple(value)
      kwargs[field.name] = value
    return cls(**kwargs)
  parts = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
           "pruning": PruningConfig, "distill": DistillConfig,
           "export": ExportConfig, "distribute": DistributeConfig,
           "executor": ExecutorConfig}
  kwargs = {name: build(cls, values.get(name, {}))
            for name, cls in parts.items()}
  return LotteryConfig(recipes=tuple(values["recipes"]), **kwargs)
