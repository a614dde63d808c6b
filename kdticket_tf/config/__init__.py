"""Configuration: the frozen, validated settings of a search.

Each setting is declared once (`fields.setting`) with its default, flag, help and
role; the configs are dataclasses that validate themselves in `__post_init__`
(`lottery`, `pruning`, `runtime`, `analysis`); `settings` turns them into flags,
`config.json` and back. Nothing here imports TensorFlow. The config classes are
re-exported here: `config.LotteryConfig`, `config.PruningConfig`, ...
"""

from kdticket_tf.config.lottery import AnalysisConfig
from kdticket_tf.config.lottery import DataConfig
from kdticket_tf.config.lottery import DistillConfig
from kdticket_tf.config.lottery import DistributeConfig
from kdticket_tf.config.lottery import Duration
from kdticket_tf.config.lottery import ExecutorConfig
from kdticket_tf.config.lottery import ExportConfig
from kdticket_tf.config.lottery import LotteryConfig
from kdticket_tf.config.lottery import ModelConfig
from kdticket_tf.config.lottery import PruningConfig
from kdticket_tf.config.lottery import TrainConfig
from kdticket_tf.config.lottery import setting
