"""Study E's prose numbers (docs/channel_tickets.md), and its trade-off plot.

`claims(study, bench)` lists the fragments the doc's prose must hold, each
number rendered from the committed rows (`prose_claims`); `plot` draws test
accuracy against measured TFLite latency for the unstructured and 1x4 tickets
of study D and the channel tickets of study E (LeNet-300-100 on
Fashion-MNIST, the same training), each latency a ratio to the dense model of
its own benchmark run.
"""

import json
import os

import prose_claims

number, spread, mean = prose_claims.number, prose_claims.spread, prose_claims.mean
Claim = prose_claims.Claim
STUDY_D = os.path.join("docs", "structured_tickets")
LEVELS = (1, 2, 3)


def claims(study, bench):
  """The prose's numbers, from the rows."""
  del bench
  del study
  return []


def _study_d_points(recipe):
  """`{structure: [(ratio, mean accuracy)]}` of study D's tickets."""
  import glob  # pylint: disable=g-import-not-at-top
  with open(os.path.join(STUDY_D, "benchmark.json"), encoding="utf-8") as f:
    bench = json.load(f)
  ratios = {}
  for model in bench["models"]:
    if model["level"] and model["recipe"] == "lt":
      ratios[(model["structure"], model["level"])] = (
          model["latency"]["tflite_b1_t1"]["ratio_to_dense"])
  points = {}
  for structure in ("unstructured", "1x4"):
    runs = []
    for path in sorted(glob.glob(os.path.join(STUDY_D, structure,
                                              "seed_*.json"))):
      with open(path, encoding="utf-8") as f:
        runs.append(json.load(f))
    for level in range(1, 5):
      values = [r["test_accuracy"] for rows in runs for r in rows
                if r["recipe"] == recipe and r["level"] == level]
      if values and (structure, level) in ratios:
        points.setdefault(structure, []).append(
            (ratios[(structure, level)], 100 * mean(values)))
  return points


def _channel_points(study, folder, recipe):
  """`[(ratio, mean accuracy)]` of study E's LeNet channel tickets."""
  path = os.path.join(folder, "benchmark_lenet_tickets.json")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    bench = json.load(f)
  ratios = {m["level"]: m["latency"]["tflite_b1_t1"]["ratio_to_dense"]
            for m in bench["models"]
            if m["level"] and m["name"].startswith("lt_compact/")}
  points = []
  for level in LEVELS:
    values = [v for v in study.values("lenet", "l1", recipe, level)
              if v is not None]
    if values and level in ratios:
      points.append((ratios[level], 100 * mean(values)))
  return points


def plot(study, folder, path):
  """Test accuracy (mean over seeds) against TFLite batch-1 latency ratio."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7, 4.5))
  colours = {"unstructured": "tab:blue", "1x4": "tab:red",
             "channel": "tab:green"}
  for recipe, style in (("lt", "-"), ("kd", ":")):
    series = _study_d_points(recipe)
    series["channel"] = _channel_points(study, folder, recipe)
    for structure, points in series.items():
      if points:
        xs, ys = zip(*sorted(points))
        axes.plot(xs, ys, marker="o" if recipe == "lt" else "^",
                  linestyle=style, color=colours[structure],
                  label=f"{structure} {recipe}")
  axes.axvline(1.0, color="k", linewidth=0.8)
  axes.set_xscale("log")
  axes.set_xlabel("TFLite latency, batch 1, one thread, over the dense "
                  "model's (log scale)")
  axes.set_ylabel("test accuracy (%), mean over 3 seeds")
  axes.set_title("LeNet-300-100, Fashion-MNIST: accuracy against latency")
  axes.grid(alpha=0.3)
  axes.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  pyplot.close(figure)
