"""Runs one stage of a search, given its workdir and its key.

`StageRunner` is what every stage of a search shares: the model function, the
data, the config, the workdir's layout and the distribution strategy. It runs
a stage by asking the stage's kind (`kinds.py`), which reads what the stage's
dependencies wrote and writes only the stage's own folder; a finished stage is
never recomputed, an interrupted one resumes from its last epoch. The
coordinator (`lottery.py`) alone writes the run's tables, plot and summary.
"""

import tensorflow as tf

from kdticket_tf import data as data_lib
from kdticket_tf import models as models_lib
from kdticket_tf.keras3 import boundary
from kdticket_tf.pruning import wrapper
from kdticket_tf.run import strategies as distribute_lib
from kdticket_tf.search import kinds
from kdticket_tf.search import level_masks
from kdticket_tf.search import ticket_export
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.training import recipes as recipes_lib
from kdticket_tf.training import rewinding


def registered_data_and_model(config, data=None, model_fn=None):
  """Returns `(data, model_fn)`: those given, or built from the registries."""
  if model_fn is None:
    models_lib.get(config.model.name)  # fail on an unknown model before data
  if data is None:
    data = data_lib.load(config.data, seed=config.train.seed)
  if model_fn is None:
    def model_fn():
      return models_lib.build(config.model, data.input_shape, data.num_classes)
  return data, model_fn


def from_workdir(workdir, config):
  """Returns the `StageRunner` of a workdir: what a worker process runs.

  The data and the model are rebuilt from the registries as `config` (the
  workdir's, from `recorded.read_config`) describes them, so the stages run
  as they would in the coordinator's process.
  """
  distribute_lib.configure_virtual_cpus(config.distribute.virtual_cpus)
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  data, model_fn = registered_data_and_model(config)
  return StageRunner(model_fn, data, config, layout_lib.Layout(workdir),
                     strategy)


class StageRunner:
  """Runs stages of one search: the model, the data and the settings they share.

  Attributes:
    model_fn, data, config, layout, strategy, chief: As given.
    rewind: The search's `RewindPoint` (θk and the recipes' training plans).
    masks: The search's `LevelMasks` (each ticket's masks, found once).
  """

  def __init__(self, model_fn, data, config, layout, strategy=None,
               chief=True):
    """Creates the runner; nothing is trained yet.

    Args:
      model_fn: Returns a fresh, uncompiled tf_keras or Keras 3 model
        (logits output).
      data: The `LotteryData`.
      config: The `LotteryConfig`.
      layout: The `Layout` to read and write.
      strategy: The `tf.distribute.Strategy` stages train under (default:
        TensorFlow's default strategy).
      chief: Whether this process writes TensorBoard runs and exports.

    Raises:
      ValueError: for a rewind step the search cannot use.
    """
    self.model_fn = model_fn
    self.data = data
    self.config = config
    self.layout = layout
    self.strategy = strategy or tf.distribute.get_strategy()
    self.chief = chief
    self.rewind = rewinding.RewindPoint(
        config, data.train.steps_per_epoch, layout,
        [recipes_lib.get(r) for r in config.recipes])
    self.masks = level_masks.LevelMasks(config, layout)

  def build(self, seed=None):
    """Returns a fresh tf_keras model built from `seed` (default: the run's).

    A Keras 3 model from `model_fn` is rebuilt as tf_keras with its weights
    (`keras3/boundary.py`); something that is no model is refused.
    """
    return boundary.engine_model(self.build_given(seed))

  def build_given(self, seed=None):
    """Returns what `model_fn` returns (tf_keras or Keras 3), from `seed`.

    Layers that model_fn leaves unnamed get the same names in every build and
    every process (dense, dense_1, ...), so the names a stage records
    (thresholds, per-layer rows) are the names a resumed stage builds.
    """
    boundary.start_build(self.config.train.seed if seed is None else seed)
    return self.model_fn()

  def wrap(self, base):
    """Returns `base` wrapped for pruning (its `keep_dense` layers left alone)."""
    return wrapper.wrap_model(base, self.config.pruning.keep_dense)

  def dense_callbacks(self, base):
    """Returns what every kind saves while the dense network trains (θk)."""
    return [callback for kind in kinds.KINDS
            for callback in kind.dense_callbacks(self, base)]

  def run(self, key):
    """Runs `key` unless it finished (exporting it if asked); returns its row.

    Its errors propagate: a training whose loss becomes NaN or infinite
    raises `TrainingDivergedError`, and the search stops.
    """
    return kinds.of(key).run(self, key)

  def steps(self, key):
    """Returns the optimizer steps stage `key` trains."""
    return kinds.of(key).steps(self, key)

  def export(self, key, base_dir=None, force=False):
    """Exports a finished stage as a servable ticket (see `ticket_export`)."""
    return ticket_export.export_stage(self, key, base_dir, force)
