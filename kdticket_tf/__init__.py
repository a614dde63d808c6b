"""kdticket_tf: lottery tickets in Keras with the KD ticket, rewinding and baselines.

TF-MOT 0.8 works only with Keras 2 (`tf_keras`), so `TF_USE_LEGACY_KERAS=1` is set
here, before TensorFlow is imported for the first time. Import this package before
TensorFlow (or set the variable yourself) so that `tf.keras` is `tf_keras`.

The public API is re-exported here; `tools/` import only this module.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf import distill
from kdticket_tf import distribute
from kdticket_tf import export
from kdticket_tf import logs
from kdticket_tf import lottery
from kdticket_tf import models
from kdticket_tf import plots
from kdticket_tf import pruning
from kdticket_tf import recipes
from kdticket_tf import results
from kdticket_tf import schedules
from kdticket_tf import serving
from kdticket_tf import summaries
from kdticket_tf import training
from kdticket_tf import workdir
from kdticket_tf.config import DataConfig
from kdticket_tf.config import DistillConfig
from kdticket_tf.config import Duration
from kdticket_tf.config import ExportConfig
from kdticket_tf.config import LotteryConfig
from kdticket_tf.config import ModelConfig
from kdticket_tf.config import PruningConfig
from kdticket_tf.config import TrainConfig
from kdticket_tf.lottery import find_tickets
from kdticket_tf.lottery import run_lottery

__all__ = [
    "config", "data", "distill", "distribute", "export", "logs", "lottery", "models", "plots", "pruning", "recipes",
    "results", "schedules", "serving", "summaries", "training", "workdir",
    "DataConfig", "DistillConfig", "Duration", "ExportConfig", "LotteryConfig", "ModelConfig",
    "PruningConfig", "TrainConfig", "find_tickets", "run_lottery",
]

__version__ = "0.1.0"
