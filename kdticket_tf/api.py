"""The package's Python API: a search from a config, or on a user's own model.

* `find_tickets(model_fn, train_data, test_data, workdir, ...)`: lottery
  tickets for your own tf_keras model and `tf.data` datasets;
* `run_lottery(config, workdir)` and `prepare(config, workdir).run()`: a
  search described by a `LotteryConfig` (what the command line runs);
* `run_instability(config, workdir)`: the instability analysis alone;
* `from_workdir(workdir)`: the search of an existing command-line workdir.

Each builds a `lottery.Lottery`, which checks everything it can before
anything trains (`checks.py`) and resumes an earlier run in the workdir.
"""

import dataclasses

from kdticket_tf.store import artifacts
from kdticket_tf.search import data_checks
from kdticket_tf import config as config_lib
from kdticket_tf.run import strategies as distribute_lib
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.search import lottery
from kdticket_tf.search import stages
from kdticket_tf.config import recorded
from kdticket_tf.data import pipeline
from kdticket_tf.data import streams


def prepare(config, workdir, data=None, model_fn=None):
  """Builds (and so validates) a `Lottery`; nothing is written yet.

  Args:
    config: A `LotteryConfig`.
    workdir: Output folder.
    data: `LotteryData`; by default built from `config.data`.
    model_fn: Model builder; by default `config.model` from the registry.

  Returns:
    The `Lottery`; call its `run()`.
  """
  if config.executor.name != "sequential":
    distribute_lib.leave_gpus_to_workers()
  # Created before any other TensorFlow work, as MultiWorkerMirroredStrategy
  # requires.
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  data, model_fn = stages.registered_data_and_model(config, data, model_fn)
  return lottery.Lottery(model_fn, data, config, workdir, strategy)


def run_lottery(config, workdir, data=None, model_fn=None, overwrite=False):
  """Runs a lottery search described by `config` in `workdir`.

  Args:
    config: A `LotteryConfig`.
    workdir: Output folder (created; an earlier run there is resumed).
    data: `LotteryData`; by default built from `config.data`.
    model_fn: Model builder; by default `config.model` from the registry.
    overwrite: Move an earlier run in `workdir` aside and start again.

  Returns:
    The result rows (dicts), dense first.
  """
  return prepare(config, workdir, data, model_fn).run(overwrite=overwrite)


def find_tickets(model_fn, train_data, test_data, workdir, *,
                 recipes=("lt",), train=None, pruning=None, distill=None,
                 export=None, distribute=None, validation_data=None,
                 steps_per_epoch=None, augmented=True):
  """Finds lottery tickets for your own model and data.

  Args:
    model_fn: A function that returns a fresh functional or Sequential
      tf_keras model (one input) whose output is logits [batch, classes],
      on every call; not a built model (see `checks.check_model_fn`).
    train_data: Finite, batched `tf.data.Dataset` of (inputs, integer labels
      [batch]) or (inputs, labels, sample weights), one epoch, iterated once
      per epoch; or a function of the epoch (a Python int) that returns that
      epoch's dataset, for an order that resumed and rewound trainings see
      exactly (see `streams.DatasetStream`).
    test_data: Batched `tf.data.Dataset` for the per-epoch test accuracy.
    workdir: Output folder (resumed if it holds an earlier run).
    recipes: Recipe names (see `kdticket_tf.recipes.names()`).
    train: `TrainConfig` (defaults: SGD 0.1, 2 epochs).
    pruning: `PruningConfig` (defaults: iterative, 20% per level, 3 levels).
    distill: `DistillConfig` for KD recipes.
    export: `ExportConfig` (default: every finished stage exported as a
      SavedModel; `ExportConfig(saved_model=False)` turns exports off).
    distribute: `DistributeConfig` (default: `auto`).
    validation_data: Optional batched validation dataset.
    steps_per_epoch: Batches per epoch of `train_data` (counted if None).
    augmented: Whether `train_data` applies random augmentation.

  Returns:
    The result rows: dicts with recipe, level, sparsity, test_accuracy,
    test_accuracy_at_best_validation (with validation data), seconds, ...;
    the dense run is level 0.

  Raises:
    ValueError: before anything trains, for a model, datasets or settings
      the search cannot use (`checks.py`, `data_checks.py`), with one
      sentence naming what was found and what is accepted.
  """
  config = config_lib.LotteryConfig(
      recipes=tuple(recipes), train=train or config_lib.TrainConfig(),
      pruning=pruning or config_lib.PruningConfig(),
      distill=distill or config_lib.DistillConfig(),
      export=export or config_lib.ExportConfig(),
      distribute=distribute or config_lib.DistributeConfig(),
      data=config_lib.DataConfig(dataset="user"),
      model=config_lib.ModelConfig(name="user"))
  # Created before any other TensorFlow work, as MultiWorkerMirroredStrategy
  # requires.
  strategy = distribute_lib.make_strategy(config.distribute.strategy)
  data_checks.check_user_datasets(train_data, test_data, validation_data)
  data = pipeline.LotteryData(
      name="user",
      train=streams.DatasetStream(train_data, steps_per_epoch, augmented),
      test=test_data, validation=validation_data,
      input_shape=data_checks.input_shape(test_data), num_classes=0)
  return lottery.Lottery(model_fn, data, config, workdir, strategy).run()


def from_workdir(workdir):
  """Returns the `Lottery` of an existing workdir (registered model and data).

  Raises:
    ValueError: if `workdir` holds no run of the command line.
  """
  return prepare(recorded.read_config(workdir), workdir)


def run_instability(config, workdir, data=None, model_fn=None,
                    overwrite=False):
  """Runs the instability analysis of `config` in `workdir`; returns its rows.

  The dense run, then for each start step k of `config.analysis.steps` two
  copies from θk that differ only in their data order, and the errors on the
  line between them (see `instability/stage.py`). Resumes like a search.

  Args:
    config: A `LotteryConfig`; its `analysis.name` is set to `instability`.
    workdir: Output folder.
    data: `LotteryData` (in-memory arrays); by default from `config.data`.
    model_fn: Model builder; by default `config.model` from the registry.
    overwrite: Move an earlier run in `workdir` aside and start again.

  Returns:
    The rows of `instability.json`, one per (network, start step).
  """
  config = dataclasses.replace(config, analysis=dataclasses.replace(
      config.analysis, name="instability"))
  prepare(config, workdir, data, model_fn).run(overwrite=overwrite)
  return artifacts.read_json(
      layout_lib.Layout(workdir).instability("json"))["rows"]
