"""kdticket_tf: lottery tickets in Keras with the KD ticket, rewinding and baselines.

The engine is Keras 2 (`tf_keras`), the one TF-MOT 0.8 prunes, imported as
`tf_keras` wherever it is used. `TF_USE_LEGACY_KERAS=1` is set here for a script
that imports this package before TensorFlow (its `tf.keras` is then `tf_keras`);
import order does not matter otherwise. `import keras` stays Keras 3, and a Keras
3 model (from `keras`, or from `tf.keras` when TensorFlow came first) is
translated to tf_keras at the boundary (`keras3/`).

Importing the package does not import TensorFlow: its modules and the public API
below load on first use, so a command can decide how TensorFlow starts (quietly,
or with its own logs) before it does (`kdticket_tf.start_tensorflow`). The
first use through this module (`kdticket_tf.find_tickets`) starts it quietly
too, unless `TF_CPP_MIN_LOG_LEVEL=0`.

The public API is re-exported here; `tools/` import only this module.
"""

import importlib

from kdticket_tf import environment  # first: before anything loads TensorFlow

# The public API: each name and the module that defines it, loaded on first use.
_API = {
    # Searching: the Python API (`api.py`) and what it raises.
    "find_tickets": "api", "run_lottery": "api", "run_instability": "api",
    "prepare": "api", "from_workdir": "api",
    "Lottery": "search.lottery", "LotteryFailedError": "search.lottery",
    "WorkdirInUseError": "store.workdir",
    "ConfigMismatchError": "config.recorded",
    "TrainingDivergedError": "training.divergence",
    "NonFiniteDataError": "training.divergence",
    "WriteError": "store.artifacts",
    # The configs.
    "LotteryConfig": "config", "DataConfig": "config", "ModelConfig": "config",
    "TrainConfig": "config", "PruningConfig": "config",
    "DistillConfig": "config", "ExportConfig": "config",
    "DistributeConfig": "config", "ExecutorConfig": "config",
    "AnalysisConfig": "config", "Duration": "config",
    # Pruning and distillation in a user's own training loop.
    "wrap_model": "pruning.wrapper", "set_masks": "pruning.wrapper",
    "prunable_variables": "pruning.wrapper",
    "target_masks": "pruning.masks",
    # A channel ticket compacted into the narrower network it computes.
    "find_channel_groups": "pruning.channel_groups",
    "compact_channels": "export.compaction",
    "Distiller": "training.distill",
    "compile_classifier": "training.fit",
    "compile_distiller": "training.distill",
    # A workdir and what it holds.
    "Layout": "store.layout", "StageKey": "store.layout",
    "DENSE_KEY": "store.layout", "FINAL_WEIGHTS": "store.layout",
    "parse_serving_path": "store.layout",
    "read_config": "config.recorded",
    "load_model_weights": "store.weights",
    "read_ticket": "export.saved_model", "gzip_size": "export.saved_model",
    "SIGNATURE": "export.saved_model",
    # A ticket's serving signature run and profiled as TF Serving runs it.
    "SignatureSession": "export.signature_session",
    "write_empty_signature": "export.signature_session",
    "use_one_thread": "export.signature_session",
    "tensorflow_threads": "export.signature_session",
    "onednn_settings": "export.signature_session",
    # Helpers of the tools: data, models, tables, plots, TFLite, timing.
    "load_data": "data", "build_model": "models",
    "start_tensorflow": "logs",
    "plot_accuracy_vs_sparsity": "report.plots",
    "tflite_interpreter": "export.tflite",
    "tflite_interpreter_class": "export.tflite",
    "tflite_storage_report": "export.tflite",
    "cpu_speed_probe": "report.cpu_speed",
    "at_full_speed": "report.cpu_speed",
    "CPU_SPEED_TOLERANCE": "report.cpu_speed",
    "median_timer": "report.timing",
    "interleaved_timings": "report.timing",
    "search_graph": "search.graph", "describe_graph": "search.graph",
    "get_recipe": "training.recipes",
}
# Public names that are another name in their module.
_RENAMED = {
    "load_data": "load", "build_model": "build",
    "tflite_interpreter": "interpreter",
    "tflite_interpreter_class": "interpreter_class",
    "tflite_storage_report": "storage_report",
    "cpu_speed_probe": "probe", "CPU_SPEED_TOLERANCE": "TOLERANCE",
    "search_graph": "build", "describe_graph": "describe", "get_recipe": "get",
    "find_channel_groups": "find", "compact_channels": "compact",
    "tensorflow_threads": "threads", "interleaved_timings": "interleaved",
}
# Public modules: result rows and their tables, the TF Serving client's
# requests, and the trainer's flags (loading it defines them, for tools that
# take the trainer's flags).
_MODULES = {"results": "report.results", "serving": "export.serving",
            "trainer_flags": "config.flags"}

__all__ = list(_API) + list(_MODULES)
__version__ = "0.1.0"


def __getattr__(name):
  """Loads a module or a public name of the package on first use."""
  if name in _MODULES:
    return _import(_MODULES[name])
  if name in _API:
    return getattr(_import(_API[name]), _RENAMED.get(name, name))
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _import(module):
  # TensorFlow's C++ start-up lines held back, as commands do (`logs.py`).
  logs = importlib.import_module(f"{__name__}.logs")
  return logs.import_quietly(f"{__name__}.{module}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
