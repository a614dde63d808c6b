"""What a stage leaves: its `metrics.json`, whose row says it is done.

A stage writes its result row into its own folder's `metrics.json` (beside the
per-layer sparsity and the per-epoch history, or an instability stage's rows);
a stage whose `metrics.json` says `done` is finished and is never recomputed.
A stage that could not finish (its worker died twice, an unexpected error)
gets a row from the coordinator that says why, with its sparsity when its
masks were written; a stage whose training diverged stops the search instead
(`divergence.TrainingDivergedError`) and leaves no row.
"""

import os

from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.report import results
from kdticket_tf.store import artifacts
from kdticket_tf.store import weights as weights_lib

DONE = "done"
FAILED = "failed"


def finished_row(layout, key):
  """Returns the result row of a finished stage, or None."""
  path = layout.metrics(key)
  if not os.path.exists(path):
    return None
  metrics = artifacts.read_json(path)
  return metrics["row"] if metrics.get("status") == DONE else None


def failure_row(layout, key, error):
  """Returns the result row of a stage that failed (its sparsity, if known)."""
  row = dict.fromkeys(results.COLUMNS)
  row.update(recipe=key.recipe, level=key.level, status=FAILED,
             error=str(error))
  try:
    sparsity = masks_lib.sparsity(weights_lib.load_arrays(layout.masks(key)))
    row.update(sparsity=sparsity, weights_remaining=1.0 - sparsity)
  except ValueError:  # no masks (yet), or unreadable ones: no sparsity
    pass
  return row
