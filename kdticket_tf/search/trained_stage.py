"""What the dense run and the tickets share: a stage that trains one network.

`TrainedKind` runs a stage unless it finished: under the run's determinism and
mixed-precision settings, inside the distribution strategy. A training whose
loss becomes NaN or infinite raises `TrainingDivergedError` (a `ValueError`:
the search stops, the stage is not recorded and trains again on a rerun). It
then exports the stage as a servable ticket when exports are on. Its kinds
(`dense_stage`, `ticket_stage`) say only how their network is built and
trained (`train`), and what their stages need (`add_stages`).

A trained stage leaves in its folder `final.weights.npz`, `metrics.json` (the
row, the per-epoch history and, for a ticket, its layers) and its TensorBoard
run; its checkpoints and epoch records are removed once it is done.
"""

import abc
import shutil
import time

import tensorflow as tf
import tf_keras as keras

from kdticket_tf.report import results
from kdticket_tf.report import summaries
from kdticket_tf.search import stage_rows
from kdticket_tf.search import ticket_export
from kdticket_tf.store import artifacts
from kdticket_tf.training import fit as training


class TrainedKind(abc.ABC):
  """A stage kind that trains one network (see `kinds.py` for the protocol)."""

  name = None
  result = True  # its rows are the search's results

  def check(self, config, data):
    """Nothing beyond the search's own checks (`checks.py`)."""
    del config, data

  def dense_callbacks(self, context, base):
    """Nothing to save while the dense network trains."""
    del context, base
    return []

  def finished(self, search, key, quiet=False):
    """Nothing beyond the coordinator's tables and summaries."""
    del search, key, quiet

  def run(self, context, key):
    """Runs `key` unless it finished, exports it if asked; returns its row.

    Raises:
      TrainingDivergedError: its loss became NaN or infinite.
      NonFiniteDataError: its evaluation data holds NaN or Inf.
    """
    row = stage_rows.finished_row(context.layout, key)
    if row is None:
      settings = context.config.train
      if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
      keras.mixed_precision.set_global_policy(
          settings.mixed_precision or "float32")
      try:
        with context.strategy.scope():
          row = self.train(context, key, time.time())
      finally:
        keras.mixed_precision.set_global_policy("float32")
    if context.config.export.saved_model and context.chief:
      # A full disk names the ticket's folder (TensorFlow's error does not).
      with artifacts.writing(context.layout.serving_path(key)):
        ticket_export.export_stage(context, key)
    return row

  @abc.abstractmethod
  def train(self, context, key, started):
    """Trains the stage's network and records it; returns its row.

    Args:
      context: The search's `StageRunner`.
      key: The stage.
      started: When the stage started (`time.time()`), for its row.
    """


def fit(context, key, model, data, plan, compile_fn, callbacks):
  """Trains `model` for the stage `key`; returns its per-epoch history."""
  if context.chief:
    callbacks = callbacks + [summaries.epoch_callback(
        context.layout.tensorboard_run(key))]
  return training.train(
      model, data, context.config.train, plan, context.layout.stage_dir(key),
      compile_fn, callbacks=callbacks,
      evaluate={"test": context.data.test,
                "validation": context.data.validation}, name=str(key))


def finish(context, key, metrics):
  """Writes the stage's `metrics.json`, removes its resume state; its row."""
  artifacts.write_json(context.layout.metrics(key), metrics)
  for folder in context.layout.resume_dirs(key):
    shutil.rmtree(folder, ignore_errors=True)
  return metrics["row"]


def result_row(context, key, sparsity, history, started, constant_lr=None):
  """Returns the result row of a trained stage (see `results.COLUMNS`)."""
  last = history[-1] if history else {}
  return {
      "recipe": key.recipe, "level": key.level, "sparsity": float(sparsity),
      "structure": context.config.pruning.structure,
      "weights_remaining": 1.0 - float(sparsity),
      "test_accuracy": last.get("test_accuracy"),
      "validation_accuracy": last.get("validation_accuracy"),
      **results.selected_on_validation(history),
      "train_loss": last.get("loss"),
      "epochs": len(history),
      "constant_lr": constant_lr,
      "seconds": time.time() - started,
      "status": stage_rows.DONE,
  }
