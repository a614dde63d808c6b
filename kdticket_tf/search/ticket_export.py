"""Exports a finished stage as a servable ticket, with its `ticket.json`.

The stage's final weights go into a fresh build of the model, stripped of the
pruning wrappers, and out as a SavedModel in the TF Serving layout
(`<base>/<recipe>/<level>`, see `export/saved_model.py`), with TFLite files
when asked. `ticket.json` gives the row, the per-layer sparsity and the size
against the dense model's export. A model that came in as Keras 3 is written
back in Keras 3 too, as `model.keras` beside the SavedModel (named in
`ticket.json` as `keras_file`; see `keras3/keras_file.py`), and so is its
compacted network, narrower (`keras3/narrow.py`).

A channel ticket (the `channel` structure's, whose weights hold whole channel
groups at zero) is also exported compacted: the
narrower network (`export/compaction.py`) as a TF Serving model of its own,
`<base>/<recipe>_compact/<level>`, and a TFLite file; it is checked against
the ticket on test examples first. Every `ticket.json` gives the model's
parameters and multiply-adds; a channel ticket's gives them compacted too,
with each layer's width before and after (`compacted`).
"""

import os

import numpy as np

from kdticket_tf.config import settings
from kdticket_tf.export import compaction
from kdticket_tf.export import flops
from kdticket_tf.export import saved_model as export_lib
from kdticket_tf.keras3 import boundary
from kdticket_tf.pruning import channel_groups
from kdticket_tf.pruning import structures
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


def _check_inputs(context, count=512):
  """Up to `count` preprocessed test inputs (the compaction's check)."""
  batches, total = [], 0
  for batch in context.data.test:
    inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
    batches.append(np.asarray(inputs))
    total += len(batches[-1])
    if total >= count:
      break
  return np.concatenate(batches)[:count]


def _compacted(context, key, base):
  """The stage's ticket compacted, or None when no channel group is zero.

  Only a structure that removes whole channels (`channel`) is compacted: a
  unit another structure happened to empty stays, as that ticket was found.
  """
  if (not key.level or
      not structures.get(context.config.pruning.structure).compacts):
    return None
  graph = channel_groups.find(base)
  if not compaction.zero_groups(base, graph):
    return None
  result = compaction.compact(base, graph, inputs=[_check_inputs(context)])
  return result if result.removed else None


def _export_compacted(context, key, base_dir, result, metadata, prunable,
                      dense_gzip_bytes, keras3_model=None):
  """Writes the compacted ticket (and its `.keras` file when `keras3_model`,
  the user's, is given); returns what the ticket's `ticket.json` records of
  it (`compacted`)."""
  layout = context.layout
  path = layout.compact_serving_path(key, base_dir)
  ticket_path = layout.serving_path(key, base_dir)
  counts = flops.totals(result.model)
  dense = {"parameters": metadata["parameters"], "macs": metadata["macs"]}
  compacted = {
      "saved_model": os.path.relpath(path, ticket_path),
      "tflite": os.path.relpath(layout.compact_tflite(key), ticket_path),
      "parameters": counts["parameters"], "macs": counts["macs"],
      "parameters_ratio": counts["parameters"] / dense["parameters"],
      "macs_ratio": counts["macs"] / max(dense["macs"], 1),
      "groups_removed": len(result.removed),
      "zero_groups_kept": len(result.kept_zero),
      "widths": {name: list(pair) for name, pair in result.widths.items()},
      "check": {"test_examples": result.examples,
                "max_relative_difference": result.difference}}
  extra_files = []
  if keras3_model is not None:
    inputs = _check_inputs(context)
    extra_files.append(lambda folder: boundary.write_compacted_keras_file(
        keras3_model, result.model, os.path.join(folder, layout_lib.KERAS_FILE),
        inputs))
    compacted["keras_file"] = os.path.relpath(
        layout.compact_keras_file(key, base_dir), ticket_path)
  layers = export_lib.layer_report(result.model, prunable)
  export_lib.export_ticket(
      result.model, path, context.data.input_shape,
      dict(metadata, layers=layers,
           prunable_weights=sum(v["weights"] for v in layers.values()),
           nonzero_weights=sum(v["nonzero"] for v in layers.values()),
           compacted_from=os.path.relpath(ticket_path, path),
           dense_parameters=dense["parameters"], dense_macs=dense["macs"],
           **{k: compacted[k] for k in ("parameters", "macs", "widths",
                                        "check")}),
      context.data.normalization, tflite_path=layout.compact_tflite(key),
      dense_gzip_bytes=dense_gzip_bytes, extra_files=extra_files)
  return compacted


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
  prunable = level_masks.prunable_names(context.wrap(context.build()))
  layers = export_lib.layer_report(base, prunable)
  dense_ticket = layout.ticket(layout_lib.DENSE_KEY, base_dir)
  dense_gzip_bytes = None
  if key.level and os.path.exists(dense_ticket):
    dense_gzip_bytes = artifacts.read_json(dense_ticket)["gzip_bytes"]
  extra_files = []
  given = context.build_given()
  keras3_model = given if boundary.is_keras3(given) else None
  if keras3_model is not None:
    extra_files.append(lambda folder: boundary.write_keras_file(
        given, base, os.path.join(folder, layout_lib.KERAS_FILE)))
  metadata = {
      "recipe": key.recipe, "level": key.level, "sparsity": row["sparsity"],
      "channels_removed": row.get("channels_removed"),
      "flops_remaining": row.get("flops_remaining"),
      "prunable_weights": sum(v["weights"] for v in layers.values()),
      "nonzero_weights": sum(v["nonzero"] for v in layers.values()),
      "layers": layers, "test_accuracy": row["test_accuracy"],
      "test_accuracy_at_best_validation":
          row.get("test_accuracy_at_best_validation"),
      **flops.totals(base), "config": settings.to_dict(config)}
  result = _compacted(context, key, base)
  if result is not None:  # written first: a ticket.json means both are done
    metadata["compacted"] = _export_compacted(
        context, key, base_dir, result, metadata, prunable, dense_gzip_bytes,
        keras3_model)
  export_lib.export_ticket(
      base, path, context.data.input_shape, metadata,
      context.data.normalization,
      tflite_path=layout.tflite(key) if config.export.tflite else None,
      tflite_int8_path=(layout.tflite(key, "_int8")
                        if config.export.tflite_int8 else None),
      representative_data=_representative_data(context),
      dense_gzip_bytes=dense_gzip_bytes, extra_files=extra_files)
  return path
