r"""Writes the tables and plot of docs/structured_tickets.md (study D) from its rows.

    python tools/structured_report.py            # rewrite the doc's tables, plot
    python tools/structured_report.py --check    # exit 1 if the doc is stale

The rows are committed under docs/structured_tickets/: `<arm>/seed_S.json` (a
run's `results.json`; arms `unstructured`, `1x4`, `2of4`) and `benchmark.json`
(`tools/benchmark_inference.py --format=json`). The arms of a seed share one
dense run, so a difference between arms is paired by seed. Tables sit between
`<!-- table:NAME -->` and `<!-- /table -->`; nothing here trains or times.
The numbers the prose states are rendered from the same rows
(`structured_claims.py`): `--check` also fails when the prose no longer says
what the rows give, or when rows the doc is made from are missing.
"""

import glob
import json
import os
import re
import sys

from absl import app
from absl import flags

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prose_claims  # pylint: disable=g-import-not-at-top,wrong-import-position
# pylint: disable-next=g-import-not-at-top,wrong-import-position
import structured_claims

FLAGS = flags.FLAGS
flags.DEFINE_string("rows", "docs/structured_tickets", "The committed rows.")
flags.DEFINE_string("doc", "docs/structured_tickets.md", "The doc to update.")
flags.DEFINE_bool("check", False, "Only check that the doc is up to date.")

ARMS = ("unstructured", "1x4", "2of4")
RECIPES = ("lt", "rewind", "kd", "kd_rewind")


def missing_rows(folder):
  """The row files (patterns under `folder`) the doc needs, matching nothing."""
  needed = [os.path.join(folder, arm, "seed_*.json") for arm in ARMS]
  needed.append(os.path.join(folder, "benchmark.json"))
  return [pattern for pattern in needed if not glob.glob(pattern)]


def seed_rows(folder):
  """Returns `{arm: {seed: rows}}` of the committed runs."""
  found = {}
  for arm in ARMS:
    for path in sorted(glob.glob(os.path.join(folder, arm, "seed_*.json"))):
      seed = int(re.search(r"seed_(\d+)\.json$", path).group(1))
      rows = [r for r in kdticket_tf.results.read(path)
              if r.get("status", "done") == "done"]
      found.setdefault(arm, {})[seed] = rows
  return found


def _value(rows, recipe, sparsity):
  for row in rows:
    if row["recipe"] == recipe and abs(row["sparsity"] - sparsity) < 5e-4:
      return row["test_accuracy"]
  return None


def _stats(values):
  return kdticket_tf.results.mean_std(values)


def _signed(values):
  return kdticket_tf.results.mean_std(values, signed=True)


def _sparsities(runs):
  return sorted({round(r["sparsity"], 4) for rows in runs.values()
                 for r in rows if r["level"]})


def _pairs(found, arm, other):
  """Seeds present in both arms."""
  return sorted(set(found.get(arm, {})) & set(found.get(other, {})))


def cost_table(found):
  """Test accuracy per recipe of each arm, and 1x4 minus unstructured."""
  lines = ["| % pruned | recipe | unstructured (%) | 1x4 (%) | "
           "1x4 - unstructured (points, paired) |", "|---|---|---|---|---|"]
  seeds = _pairs(found, "unstructured", "1x4")
  for sparsity in _sparsities(found.get("1x4", {})):
    for recipe in RECIPES:
      plain = [_value(found.get("unstructured", {}).get(s, []), recipe,
                      sparsity) for s in found.get("unstructured", {})]
      block = [_value(found["1x4"][s], recipe, sparsity) for s in found["1x4"]]
      paired = []
      for s in seeds:
        a = _value(found["1x4"][s], recipe, sparsity)
        b = _value(found["unstructured"][s], recipe, sparsity)
        paired.append(None if a is None or b is None else a - b)
      lines.append(f"| {100 * sparsity:.0f} | {recipe} | {_stats(plain)} | "
                   f"{_stats(block)} | {_signed(paired)} |")
  return "\n".join(lines) + "\n"


def kd_table(found):
  """Does KD pay the structure back? Paired differences per seed."""
  lines = ["| % pruned | baseline | structure cost: baseline 1x4 - "
           "baseline unstructured | KD gain, unstructured | KD gain, 1x4 | "
           "KD 1x4 - baseline unstructured |", "|---|---|---|---|---|---|"]
  seeds = _pairs(found, "unstructured", "1x4")
  for sparsity in _sparsities(found.get("1x4", {})):
    for baseline, kd in (("lt", "kd"), ("rewind", "kd_rewind")):
      cells = [[], [], [], []]
      for s in seeds:
        u, b = found["unstructured"][s], found["1x4"][s]
        values = [_value(x, r, sparsity) for x, r in
                  ((u, baseline), (b, baseline), (u, kd), (b, kd))]
        if None in values:
          continue
        ub, bb, uk, bk = values
        for cell, value in zip(cells, (bb - ub, uk - ub, bk - bb, bk - ub)):
          cell.append(value)
      lines.append(f"| {100 * sparsity:.0f} | {baseline} (KD: {kd}) | " +
                   " | ".join(_signed(c) for c in cells) + " |")
  return "\n".join(lines) + "\n"


def two_of_four_table(found):
  """The 2:4 arm at 50%, with the dense network of the same seeds."""
  runs = found.get("2of4", {})
  lines = ["| recipe | test accuracy (%) | minus dense (points, paired) |",
           "|---|---|---|"]
  dense = {s: _value(rows, "dense", 0.0) for s, rows in runs.items()}
  lines.append(f"| dense | {_stats(list(dense.values()))} | |")
  for recipe in RECIPES:
    values = {s: _value(rows, recipe, 0.5) for s, rows in runs.items()}
    lines.append(f"| {recipe} | {_stats(list(values.values()))} | " +
                 _signed([v - dense[s] for s, v in values.items()
                          if v is not None and dense[s] is not None]) + " |")
  return "\n".join(lines) + "\n"


def benchmark(folder):
  path = os.path.join(folder, "benchmark.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as stream:
    return json.load(stream)


def latency_table(bench, field="latency"):
  """The benchmark's latencies (µs, ratio to dense) and TFLite sizes.

  `field` is `latency` (over all timings) or `full_speed_latency` (the
  timings taken while the CPU ran at full speed).
  """
  if not bench:
    return "(no benchmark committed yet)\n"
  if field not in bench["models"][0]:
    return "(the committed benchmark has no such timings)\n"
  labels = [k for k in bench["models"][0][field]]
  lines = ["| ticket | structure | % pruned | TFLite storage | " +
           " | ".join(labels) + " | .tflite KiB | .tflite gzip KiB |",
           "|" + "---|" * (len(labels) + 6)]
  for model in bench["models"]:
    cells = [model["name"], model["structure"] if model["level"] else "dense",
             f"{100 * model['sparsity']:.0f}", ", ".join(model["storage"])]
    cells += [kdticket_tf.results.latency_cell(model[field].get(k))
              for k in labels]
    cells += [f"{model.get('tflite_bytes', 0) / 1024:.0f}",
              f"{model.get('tflite_gzip_bytes', 0) / 1024:.0f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot(found, bench, path):
  """Test accuracy (mean over seeds) against TFLite batch-1 latency."""
  if not bench:
    return
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  latency = {}
  for model in bench["models"]:
    arm = "2of4" if model["structure"] == "2:4" else model["structure"]
    key = ("dense", 0.0) if not model["level"] else (
        arm, round(model["sparsity"], 2))
    latency[key] = 1e6 * model["latency"]["tflite_b1_t1"]["seconds"]
  figure, axes = pyplot.subplots(figsize=(7, 4.5))
  markers = {"lt": "o", "rewind": "s", "kd": "^", "kd_rewind": "v"}
  colours = {"unstructured": "tab:blue", "1x4": "tab:red", "2of4": "tab:green"}
  for arm, runs in found.items():
    for recipe in RECIPES:
      points = []
      for sparsity in _sparsities(runs):
        values = [_value(rows, recipe, sparsity) for rows in runs.values()]
        values = [v for v in values if v is not None]
        x = latency.get((arm, round(sparsity, 2)))
        if values and x is not None:
          points.append((x, 100 * sum(values) / len(values)))
      if points:
        xs, ys = zip(*points)
        axes.plot(xs, ys, marker=markers[recipe], color=colours[arm],
                  linestyle="-" if recipe == "lt" else ":",
                  label=f"{arm} {recipe}")
  dense = [_value(rows, "dense", 0.0) for runs in found.values()
           for rows in runs.values()]
  dense = [d for d in dense if d is not None]
  if dense and ("dense", 0.0) in latency:
    axes.plot([latency[("dense", 0.0)]], [100 * sum(dense) / len(dense)], "k*",
              markersize=12, label="dense")
  axes.set_xscale("log")
  axes.set_xlabel("TFLite latency, batch 1, one thread (µs, log scale)")
  axes.set_ylabel("test accuracy (%), mean over seeds")
  axes.set_title("Study D: LeNet-300-100, Fashion-MNIST, one-shot")
  axes.grid(alpha=0.3)
  axes.legend(fontsize=7, ncol=2)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  pyplot.close(figure)


def tables(folder):
  found = seed_rows(folder)
  bench = benchmark(folder)
  seeds = {arm: sorted(runs) for arm, runs in found.items()}
  return found, bench, {
      "seeds": "".join(f"- `{arm}`: seeds {', '.join(map(str, s))}\n"
                       for arm, s in seeds.items()) or "(no rows yet)\n",
      "cost": cost_table(found), "kd": kd_table(found),
      "two_of_four": two_of_four_table(found),
      "latency": latency_table(bench),
      "latency_full_speed": latency_table(bench, "full_speed_latency")}


def main(argv):
  del argv
  absent = missing_rows(FLAGS.rows)
  if absent:
    print(f"structured_report: {FLAGS.doc} is made from rows that are missing "
          f"(no file matches {', '.join(absent)}); restore them from git "
          "before checking or regenerating the doc.", file=sys.stderr)
    return 1
  runs, bench, found = tables(FLAGS.rows)
  with open(FLAGS.doc, encoding="utf-8") as stream:
    text = stream.read()
  new = kdticket_tf.results.update_marked_tables(text, found)
  return prose_claims.check_or_write(
      "structured_report", FLAGS.doc, text, new,
      lambda: structured_claims.claims(runs, bench), FLAGS.check,
      lambda: plot(runs, bench, os.path.join(FLAGS.rows,
                                             "accuracy_vs_latency.png")),
      f"{FLAGS.doc}: {len(found)} tables; plot in {FLAGS.rows}")

if __name__ == "__main__":
  app.run(main)
