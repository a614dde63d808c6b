"""The settings that change no result: devices, executors, exports.

`DistributeConfig` (how one training is spread over devices and machines),
`ExecutorConfig` (where the stages of a search run) and `ExportConfig` (what is
written as each stage finishes) are sections of `config.LotteryConfig`; every
field is `neutral`: a search may be resumed with other values.
"""

import dataclasses
from typing import Optional

from kdticket_tf.config import fields
from kdticket_tf.run import executors
from kdticket_tf.run import strategies

setting = fields.setting


@dataclasses.dataclass(frozen=True)
class DistributeConfig:
  """How training is spread over devices and machines.

  Attributes:
    strategy: `auto`, `mirrored`, `multi_worker` or `one_device`.
    virtual_cpus: Split the host CPU into this many logical devices (0: no).
  """
  strategy: str = setting(
      "auto", "strategy", "tf.distribute strategy (multi_worker reads "
      "TF_CONFIG).", choices=strategies.STRATEGIES, neutral=True)
  virtual_cpus: int = setting(
      0, "virtual_cpus", "Split the host CPU into N logical devices (testing "
      "the mirrored path without GPUs).", neutral=True)

  def __post_init__(self):
    fields.check_choice(self, "strategy")
    fields.check_at_least(self, "virtual_cpus", 0)


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
  name: str = setting(
      "sequential", "executor", "sequential: one stage at a time in this "
      "process; local: worker processes on this machine; ray: Ray tasks (a "
      "local Ray, or a running Ray cluster).",
      choices=executors.NAMES, neutral=True)
  workers: int = setting(2, "workers", "Worker processes of the local executor.",
                         neutral=True)
  gpus_per_worker: Optional[int] = setting(
      None, "gpus_per_worker", "GPUs of each local worker (default: the "
      "visible GPUs shared out evenly).", kind="integer", neutral=True)
  threads: int = setting(
      0, "threads_per_stage", "TensorFlow threads of each stage in a worker "
      "(0: the cores shared out; in deterministic runs, what a sequential run "
      "uses).", neutral=True)
  stage_cpus: float = setting(1.0, "stage_cpus",
                              "CPUs each Ray task asks for.", neutral=True)
  stage_gpus: float = setting(0.0, "stage_gpus",
                              "GPUs each Ray task asks for.", neutral=True)
  ray_address: str = setting(
      "", "ray_address", "Empty: start a local Ray; auto or host:port: join a "
      "running Ray cluster (the workdir on storage every node sees).",
      neutral=True)

  def __post_init__(self):
    fields.check_choice(self, "name")
    fields.check_at_least(self, "workers", 1)
    if self.gpus_per_worker is not None:
      fields.check_at_least(self, "gpus_per_worker", 0)
    fields.check_at_least(self, "threads", 0)
    fields.check_positive(self, "stage_cpus")
    fields.check_at_least(self, "stage_gpus", 0)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """What is exported as each level finishes (does not change any result).

  Attributes:
    saved_model: Export every finished level as a servable SavedModel ticket.
    tflite: Also convert each ticket to TFLite with sparsity optimisation.
    tflite_int8: Also write an int8 post-training quantized TFLite conversion,
      calibrated on raw training examples (the int8 sparse kernel takes 1x16
      blocks: for `1x16` tickets).
  """
  saved_model: bool = setting(
      True, "export",
      "Export each finished level as a servable SavedModel ticket.",
      neutral=True)
  tflite: bool = setting(
      False, "export_tflite",
      "Also convert each ticket to TFLite (sparsity optimisation).",
      neutral=True)
  tflite_int8: bool = setting(
      False, "export_tflite_int8",
      "Also write an int8 post-training quantized TFLite ticket.",
      neutral=True)

  def __post_init__(self):
    if self.tflite_int8 and not self.tflite:
      raise ValueError(
          "ExportConfig.tflite_int8=True needs ExportConfig.tflite=True; set "
          "both, or drop the int8 conversion.")
