"""TensorBoard logs of a lottery run, under `<workdir>/tensorboard/`.

* One run per (recipe, level) — `dense`, `lt/level_01`, ... — written by Keras's
  `TensorBoard` callback: per-epoch `epoch_loss`, `epoch_accuracy`,
  `epoch_test_accuracy`, `epoch_learning_rate`, ...; plus the level's HParams
  session (recipe, level and the run's main settings, with its final metrics) so
  recipes can be compared in the HParams table and parallel-coordinates views.
* A `summary` run:
  - `sparsity/<recipe>/<layer>` and `threshold/<recipe>/<layer>` with the level as
    step: how sparse each layer is at each level, and the magnitude below which
    its weights were pruned;
  - `lottery/<recipe>/test_accuracy` and `lottery/<recipe>/weights_remaining_percent`
    with the level as step, and `lottery_by_sparsity/<recipe>/test_accuracy` with
    the sparsity in per mille as step (step 790 = 79.0% of the weights pruned);
  - `config`: the resolved configuration as text.
"""

import json

import tensorflow as tf
import tf_keras as keras
from tensorboard.plugins.hparams import api as hparams_api

from kdticket_tf.store import layout as layout_lib
from kdticket_tf.config import settings

METRICS = ("test_accuracy", "test_accuracy_at_best_validation", "sparsity")


def epoch_callback(run_dir):
  """Returns the Keras `TensorBoard` callback of a stage (per-epoch scalars)."""
  return keras.callbacks.TensorBoard(
      log_dir=run_dir, update_freq="epoch", write_graph=False, profile_batch=0)


def hparams_of(config_dict, recipe, level):
  """Returns the HParams values of a stage from the run's config dict."""
  values = {"recipe": recipe, "level": int(level)}
  for path in settings.hparam_paths():  # the fields declared `hparam`
    section, name = path.split(".")
    value = config_dict.get(section, {}).get(name)
    if value is not None:
      values[path] = value
  return values


def write_experiment(layout, config_dict, recipes):
  """Writes the HParams experiment (columns and metrics) and the config text."""
  folder = layout.tensorboard
  columns = [hparams_api.HParam("recipe", hparams_api.Discrete(
      ["dense"] + list(recipes))), hparams_api.HParam("level")]
  columns += [hparams_api.HParam(key) for key in hparams_of(config_dict, "", 0)
              if key not in ("recipe", "level")]
  metrics = [hparams_api.Metric(f"hparams/{m}", display_name=m) for m in METRICS]
  with tf.summary.create_file_writer(folder).as_default():
    hparams_api.hparams_config(hparams=columns, metrics=metrics)
  with tf.summary.create_file_writer(layout.summary_run).as_default():
    tf.summary.text("config", "```\n" + json.dumps(config_dict, indent=2) +
                    "\n```", step=0)


def write_stage(layout, config_dict, row, layers=None):
  """Writes a finished stage's HParams session and its points in `summary`.

  Args:
    layout: The workdir's `Layout`.
    config_dict: The run's configuration as a dict.
    row: The stage's result row.
    layers: `{layer: {"sparsity", "threshold"}}` of a pruned level.
  """
  recipe, level = row["recipe"], row["level"]
  with tf.summary.create_file_writer(layout.tensorboard_run(
      layout_lib.StageKey(recipe, level))).as_default():
    hparams_api.hparams(hparams_of(config_dict, recipe, level),
                        trial_id=f"{recipe}/level_{level:02d}")
    for metric in METRICS:
      if row.get(metric) is not None:
        tf.summary.scalar(f"hparams/{metric}", row[metric], step=0)
  recipes = [recipe] if level else config_dict.get("recipes", [])
  with tf.summary.create_file_writer(layout.summary_run).as_default():
    for name in recipes:  # the dense run is level 0 of every recipe's curve
      if row.get("test_accuracy") is not None:
        tf.summary.scalar(f"lottery/{name}/test_accuracy",
                          row["test_accuracy"], step=level)
        tf.summary.scalar(f"lottery_by_sparsity/{name}/test_accuracy",
                          row["test_accuracy"],
                          step=int(round(1000 * row["sparsity"])))
      if row.get("weights_remaining") is not None:
        tf.summary.scalar(f"lottery/{name}/weights_remaining_percent",
                          100.0 * row["weights_remaining"], step=level)
    for layer, values in (layers or {}).items():
      tf.summary.scalar(f"sparsity/{recipe}/{layer}", values["sparsity"],
                        step=level)
      if values.get("threshold") is not None:
        tf.summary.scalar(f"threshold/{recipe}/{layer}", values["threshold"],
                          step=level)
