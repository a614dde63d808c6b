"""kdticket_tf: lottery tickets in Keras with the KD ticket, rewinding and baselines.

TF-MOT 0.8 works only with Keras 2 (`tf_keras`), so `TF_USE_LEGACY_KERAS=1` is set
here, before TensorFlow is imported for the first time. Import this package before
TensorFlow (or set the variable yourself) so that `tf.keras` is `tf_keras`.

Importing the package does not import TensorFlow: its modules and the public API
below load on first use, so a command can decide how TensorFlow starts (quietly,
or with its own logs) before it does (`kdticket_tf.logs.start_tensorflow`). The
first use through this module (`kdticket_tf.find_tickets`) starts it quietly
too, unless `TF_CPP_MIN_LOG_LEVEL=0`.

The public API is re-exported here; `tools/` import only this module.
"""

import importlib

from kdticket_tf import environment  # first: before anything loads TensorFlow

_MODULES = (
    "analysis_config", "api", "artifacts", "config", "cpu_speed", "data",
    "distill", "distribute", "executors", "export", "graph", "instability",
    "instability_graph", "instability_report", "instability_stage",
    "kd_collapse", "layout", "local_executor", "logs", "lottery", "models",
    "plots", "pruning", "pruning_config", "recipes", "registry", "results",
    "rewinding", "schedules", "serving", "stage_lock", "stages", "summaries",
    "tflite", "training", "weights", "workdir")
_API = {
    "DataConfig": "config", "DistillConfig": "config", "Duration": "config",
    "ExportConfig": "config", "LotteryConfig": "config",
    "ModelConfig": "config", "PruningConfig": "config", "TrainConfig": "config",
    "DistributeConfig": "config", "AnalysisConfig": "config",
    "find_tickets": "api", "run_lottery": "api", "run_instability": "api",
}

__all__ = list(_MODULES) + list(_API)
__version__ = "0.1.0"


def __getattr__(name):
  """Loads a module or a public name of the package on first use."""
  if name in _MODULES:
    return _import(name)
  if name in _API:
    return getattr(_import(_API[name]), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _import(module):
  # TensorFlow's C++ start-up lines held back, as commands do (`logs.py`).
  logs = importlib.import_module(f"{__name__}.logs")
  return logs.import_quietly(f"{__name__}.{module}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
