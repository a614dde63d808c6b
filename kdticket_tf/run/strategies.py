"""Distribution strategies: which one, on which devices, and who is the chief.

`DistributeConfig.strategy` chooses: `auto` (MirroredStrategy when more than one GPU is visible,
else the default strategy), `mirrored` (all GPUs, or all logical CPUs when there
is no GPU), `multi_worker` (MultiWorkerMirroredStrategy; the cluster comes from
`TF_CONFIG`) or `one_device`. `virtual_cpus=N` splits the host CPU into N logical
devices so the mirrored path runs without GPUs.

The batch size flag is the global batch: each of the R replicas gets batch / R
examples per step, and the learning rate is used as given (never rescaled).

`STRATEGIES` is the one list of their names: the config validates against it,
so importing this module does not import TensorFlow (each function that needs
it imports it).
"""

import json
import os

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")


def configure_virtual_cpus(count):
  """Splits the first physical CPU into `count` logical devices.

  Raises:
    ValueError: when TensorFlow's devices are already initialised.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if count <= 1:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count)
  except RuntimeError:
    raise ValueError(
        f"DistributeConfig.virtual_cpus={count} must be set before TensorFlow "
        "starts its "
        "devices; pass it on the command line (or call "
        "configure_virtual_cpus first thing).") from None


def make_strategy(name):
  """Returns the `tf.distribute.Strategy` called `name`.

  Raises:
    ValueError: for an unknown name.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if name not in STRATEGIES:
    raise ValueError(f"DistributeConfig.strategy={name!r} is not supported; choose one of: "
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
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, index = task()
  cluster = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get(
      "cluster", {})
  if "chief" in cluster:
    return task_type == "chief"
  return task_type in (None, "worker") and index == 0


def thread_environment(threads):
  """Returns the environment variables of TensorFlow's thread pools (0: its
  default, every core)."""
  if not threads:
    return {}
  return {"TF_NUM_INTRAOP_THREADS": str(threads),
          "TF_NUM_INTEROP_THREADS": str(threads)}


def leave_gpus_to_workers():
  """Keeps this process's TensorFlow off the GPUs (before it starts them).

  The coordinator of local or Ray workers only loads data and writes results;
  the workers need the GPUs' memory.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")


def worker_environments(workers, gpus_per_worker=None, threads=0):
  """Returns the environment of each local worker process: GPUs and threads.

  Args:
    workers: Number of worker processes.
    gpus_per_worker: GPUs each worker gets; None shares the visible GPUs out
      evenly (none when there are none); 0 hides them from the workers.
    threads: TensorFlow's intra- and inter-op threads per worker; 0 leaves
      TensorFlow's default (every core).

  Returns:
    One dict of environment variables per worker: `CUDA_VISIBLE_DEVICES` (its
    own GPUs, numbered as this process sees them) and the thread counts.

  Raises:
    ValueError: when the workers would need more GPUs than are visible, or
      when GPUs are visible but too few to give each worker one.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  count = len(tf.config.list_physical_devices("GPU"))
  ids = ([i.strip() for i in visible.split(",") if i.strip()][:count]
         if visible else [str(i) for i in range(count)])
  if gpus_per_worker is None:
    gpus_per_worker = len(ids) // workers
    if ids and not gpus_per_worker:
      raise ValueError(
          f"ExecutorConfig.workers={workers} is more than the {len(ids)} "
          "visible GPUs; use as many workers as GPUs, or "
          "ExecutorConfig.gpus_per_worker=0 to train on the CPU.")
  if gpus_per_worker * workers > len(ids):
    raise ValueError(
        f"ExecutorConfig.workers={workers} with "
        f"ExecutorConfig.gpus_per_worker={gpus_per_worker} needs "
        f"{gpus_per_worker * workers} GPUs, but {len(ids)} are visible; use "
        "fewer workers or GPUs per worker.")
  environments = []
  for index in range(workers):
    environment = {}
    if ids:  # its own GPUs; none when gpus_per_worker is 0
      environment["CUDA_VISIBLE_DEVICES"] = ",".join(
          ids[index * gpus_per_worker:(index + 1) * gpus_per_worker])
    environment.update(thread_environment(threads))
    environments.append(environment)
  return environments
