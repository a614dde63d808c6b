"""Distribution strategies: which one, on which devices, and who is the chief.

`--strategy` chooses: `auto` (MirroredStrategy when more than one GPU is visible,
else the default strategy), `mirrored` (all GPUs, or all logical CPUs when there
is no GPU), `multi_worker` (MultiWorkerMirroredStrategy; the cluster comes from
`TF_CONFIG`) or `one_device`. `--virtual_cpus=N` splits the host CPU into N logical
devices so the mirrored path runs without GPUs.

The batch size flag is the global batch: each of the R replicas gets batch / R
examples per step, and the learning rate is used as given (never rescaled).
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")


def configure_virtual_cpus(count):
  """Splits the first physical CPU into `count` logical devices.

  Raises:
    ValueError: when TensorFlow's devices are already initialised.
  """
  if count <= 1:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count)
  except RuntimeError:
    raise ValueError(
        f"virtual_cpus={count} must be set before TensorFlow starts its "
        "devices; pass it on the command line (or call "
        "configure_virtual_cpus first thing).") from None


def make_strategy(name):
  """Returns the `tf.distribute.Strategy` called `name`.

  Raises:
    ValueError: for an unknown name.
  """
  if name not in STRATEGIES:
    raise ValueError(f"strategy={name!r} is not supported; choose one of: "
                     f"{', '.join(STRATEGIES)}.")
  if name == "multi_worker":  # before anything starts TensorFlow's devices
    return tf.distribute.MultiWorkerMirroredStrategy()
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    return (tf.distribute.MirroredStrategy() if len(gpus) > 1
            else tf.distribute.get_strategy())
  if name == "mirrored":
    if gpus:
      return tf.distribute.MirroredStrategy()
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus)
  return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def task():
  """Returns (task type, task index) from `TF_CONFIG`, or (None, 0)."""
  config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  current = config.get("task", {})
  return current.get("type"), int(current.get("index", 0))


def is_chief(strategy):
  """True for the process that writes results, exports and summaries."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, index = task()
  cluster = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get(
      "cluster", {})
  if "chief" in cluster:
    return task_type == "chief"
  return task_type in (None, "worker") and index == 0


def worker_dir(workdir):
  """Returns where a non-chief worker keeps its own state inside `workdir`."""
  task_type, index = task()
  return os.path.join(workdir, "workers", f"{task_type or 'worker'}_{index}")
