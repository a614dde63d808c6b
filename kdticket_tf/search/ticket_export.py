"""Exports a finished stage as a servable ticket, with its `ticket.json`.

The stage's final weights go into a fresh build of the model, stripped of the
pruning wrappers, and out as a SavedModel in the TF Serving layout
(`<base>/<recipe>/<level>`, see `export/saved_model.py`), with TFLite files
when asked. `ticket.json` gives the row, the per-layer sparsity and the size
against the dense model's export. A model that came in as Keras 3 is written
back in Keras 3 too, as `model.keras` beside the SavedModel (named in
`ticket.json` as `keras_file`; see `keras3/keras_file.py`).
"""

import os

import numpy as np

from kdticket_tf.config import settings
from kdticket_tf.export import saved_model as export_lib
from kdticket_tf.keras3 import boundary
from kdticket_tf.search import level_masks
from kdticket_tf.search import stage_rows
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib


def _representative_data(context, count=100):
  """Returns a generator of raw training inputs (int8 calibration)."""
  def examples():
    for image in context.data.train.raw_examples(count):
      yield [image[None].astype(np.float32)]
  return examples


def export_stage(context, key, base_dir=None, force=False):
  """Exports a finished stage as a servable ticket (kept if it exists).

  Args:
    context: The search's `StageRunner`.
    key: The stage.
    base_dir: Serving base folder (default `<workdir>/export/serving`).
    force: Export even when it exists, replacing it.

  Returns:
    The ticket's path.

  Raises:
    ValueError: when the stage has not finished.
  """
  layout, config = context.layout, context.config
  path = layout.serving_path(key, base_dir)
  if not force and os.path.exists(layout.ticket(key, base_dir)):
    return path
  row = stage_rows.finished_row(layout, key)
  if row is None:
    raise ValueError(f"{layout.stage_dir(key)} has not finished; only "
                     "finished stages can be exported.")
  base = context.build()
  weights_lib.load_model_weights(layout.final_weights(key), base)
  layers = export_lib.layer_report(
      base, level_masks.prunable_names(context.wrap(context.build())))
  dense_ticket = layout.ticket(layout_lib.DENSE_KEY, base_dir)
  dense_gzip_bytes = None
  if key.level and os.path.exists(dense_ticket):
    dense_gzip_bytes = artifacts.read_json(dense_ticket)["gzip_bytes"]
  extra_files = []
  given = context.build_given()
  if boundary.is_keras3(given):
    extra_files.append(lambda folder: boundary.write_keras_file(
        given, base, os.path.join(folder, layout_lib.KERAS_FILE)))
  export_lib.export_ticket(
      base, path, context.data.input_shape,
      {"recipe": key.recipe, "level": key.level,
       "sparsity": row["sparsity"],
       "prunable_weights": sum(v["weights"] for v in layers.values()),
       "nonzero_weights": sum(v["nonzero"] for v in layers.values()),
       "layers": layers, "test_accuracy": row["test_accuracy"],
       "test_accuracy_at_best_validation":
           row.get("test_accuracy_at_best_validation"),
       "config": settings.to_dict(config)},
      context.data.normalization,
      tflite_path=layout.tflite(key) if config.export.tflite else None,
      tflite_int8_path=(layout.tflite(key, "_int8")
                        if config.export.tflite_int8 else None),
      representative_data=_representative_data(context),
      dense_gzip_bytes=dense_gzip_bytes, extra_files=extra_files)
  return path
