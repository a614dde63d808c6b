r"""Per-layer sparsity of an exported ticket or of every level of a workdir.

    python tools/inspect_ticket.py workdirs/quickstart/export/serving/rewind/7
    python tools/inspect_ticket.py workdirs/quickstart --format=json

For a SavedModel directory: every kernel (rank >= 2) of the saved model with its
shape, parameters, non-zeros and sparsity, and the totals, read with TensorFlow
alone. For a workdir: the same table for each finished level, from its weights.
A `.tflite` file (or a ticket whose ticket.json has a TFLite conversion): how
the flatbuffer stores each layer's weight: `block-sparse` (TFLite's fast sparse
kernel), `random-sparse`, `densified` (stored sparse, densified at run time) or
`dense`.

    python tools/inspect_ticket.py workdirs/quickstart/export/tflite/lt_level_07.tflite

A channel ticket (its `ticket.json` has `compacted`), or its compacted network
(`export/serving/<recipe>_compact/<level>`): the units or filters of each
Dense and convolution layer before and after compaction, and the parameters
and multiply-adds of both.

    python tools/inspect_ticket.py workdirs/channels/export/serving/lt/1
"""

import glob
import json
import os
import sys

from absl import app
from absl import flags

import kdticket_tf
import numpy as np

# Started here, before anything else loads it: quietly, unless the user set
# TF_CPP_MIN_LOG_LEVEL.
tf = kdticket_tf.start_tensorflow()

FLAGS = flags.FLAGS
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")


def _row(name, values):
  nonzero = int(np.count_nonzero(values))
  return {"name": name, "shape": list(values.shape), "parameters": values.size,
          "nonzero": nonzero, "sparsity": 1.0 - nonzero / max(values.size, 1)}


def saved_model_layers(path):
  """Returns the kernel rows of the SavedModel at `path`."""
  loaded = tf.saved_model.load(path)
  variables = loaded.signatures[kdticket_tf.SIGNATURE].variables
  return [_row(v.name.split(":")[0], v.numpy()) for v in variables
          if len(v.shape) >= 2]


def weights_file_layers(path):
  """Returns the kernel rows of a workdir's `final.weights.npz`."""
  with np.load(path) as archive:
    return [_row(key.split(":", 1)[1], archive[key])
            for key in sorted(archive.files) if archive[key].ndim >= 2]


def workdir_stages(workdir):
  """Returns {stage name: kernel rows} for every finished level of `workdir`."""
  stages = {}
  pattern = os.path.join(workdir, "*", "**",
                         kdticket_tf.FINAL_WEIGHTS)
  for path in sorted(glob.glob(pattern, recursive=True)):
    if os.sep + "export" + os.sep in path:
      continue
    stage = os.path.relpath(os.path.dirname(path), workdir)
    stages[stage] = weights_file_layers(path)
  return stages


def totals(rows):
  parameters = sum(r["parameters"] for r in rows)
  nonzero = sum(r["nonzero"] for r in rows)
  return {"parameters": parameters, "nonzero": nonzero,
          "sparsity": 1.0 - nonzero / max(parameters, 1)}


def print_table(title, rows):
  print(title)
  print(f"{'layer':<36} {'shape':<20} {'params':>10} {'nonzero':>10} "
        f"{'sparsity':>9}")
  for r in rows:
    print(f"{r['name']:<36} {str(tuple(r['shape'])):<20} {r['parameters']:>10} "
          f"{r['nonzero']:>10} {r['sparsity']:>9.4f}")
  t = totals(rows)
  print(f"{'total':<36} {'':<20} {t['parameters']:>10} {t['nonzero']:>10} "
        f"{t['sparsity']:>9.4f}\n")


def tflite_storage(path, layer_names=()):
  """Returns the storage rows of a `.tflite` file, one per weight of an op."""
  with open(path, "rb") as stream:
    report = kdticket_tf.tflite_storage_report(stream.read(), layer_names)
  return [dict(name=name, **row) for name, row in report.items()]


def print_storage(title, rows):
  print(title)
  print(f"{'layer':<36} {'op':<18} {'shape':<16} {'dtype':<8} storage")
  for r in rows:
    block = f" {r['block'][0]}x{r['block'][1]}" if r["block"] else ""
    print(f"{r['name']:<36} {r['op']:<18} {str(tuple(r['shape'])):<16} "
          f"{r['dtype']:<8} {r['storage']}{block}")
  print()


def compaction_widths(ticket):
  """Returns the width rows and the totals of a channel ticket's
  compaction (None for another ticket)."""
  compacted = ticket.get("compacted") or (
      ticket if "compacted_from" in ticket else None)
  if not compacted:
    return None
  dense = ticket if "compacted" in ticket else {
      "parameters": ticket["dense_parameters"], "macs": ticket["dense_macs"]}
  rows = [{"name": name, "before": before, "after": after}
          for name, (before, after) in compacted["widths"].items()]
  return {"layers": rows,
          "parameters": [dense["parameters"], compacted["parameters"]],
          "macs": [dense["macs"], compacted["macs"]]}


def print_widths(title, widths):
  print(title)
  print(f"{'layer':<36} {'width':>8} {'compacted':>10}")
  for r in widths["layers"]:
    print(f"{r['name']:<36} {r['before']:>8} {r['after']:>10}")
  for key in ("parameters", "macs"):
    before, after = widths[key]
    name = "multiply-adds" if key == "macs" else key
    print(f"{name:<36} {before:>8} {after:>10}  ({after / before:.3f}x)")
  print()


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give one SavedModel directory, .tflite file or "
                         "workdir.")
  path = argv[1]
  if path.endswith(".tflite") and os.path.isfile(path):
    rows = tflite_storage(path)
    if FLAGS.format == "json":
      print(json.dumps({path: {"tflite_layers": rows}}, indent=2))
    else:
      print_storage(path, rows)
    return 0
  storage, widths = {}, None
  if os.path.exists(os.path.join(path, "ticket.json")):
    ticket = kdticket_tf.read_ticket(path)
    for key in ("tflite_layers", "tflite_int8_layers"):
      if ticket.get(key):
        storage[key] = [dict(name=n, **r) for n, r in ticket[key].items()]
    widths = compaction_widths(ticket)
    if widths:
      storage["widths"] = widths
  if os.path.exists(os.path.join(path, "saved_model.pb")):
    stages = {path: saved_model_layers(path)}
  elif os.path.exists(os.path.join(path, "config.json")):
    stages = workdir_stages(path)
  else:
    print(f"inspect_ticket: error: {path} is neither a SavedModel directory "
          "nor a kdticket_tf workdir.", file=sys.stderr)
    return 1
  if FLAGS.format == "json":
    print(json.dumps({name: {"layers": rows, "total": totals(rows), **storage}
                      for name, rows in stages.items()}, indent=2))
    return 0
  for name, rows in stages.items():
    print_table(name, rows)
  if storage.pop("widths", None):
    print_widths(f"{path}: the width of each layer, before and after "
                 "compaction", widths)
  for key, rows in storage.items():
    print_storage(f"{path}: {key.replace('_layers', '')} (how the flatbuffer "
                  "stores each weight)", rows)
  return 0


if __name__ == "__main__":
  app.run(main)
