"""The lottery plot: test accuracy against % of weights remaining, per recipe.

x is the % of prunable weights remaining on a log axis, decreasing to the right
(sparser tickets to the right); one line per recipe; the dense accuracy as a dashed
reference line. Given several runs of the same recipes (several seeds), the line
is their mean and the band their minimum to maximum.
"""

import collections

import matplotlib

matplotlib.use("Agg")
# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt
import numpy as np

from kdticket_tf.store import artifacts
from kdticket_tf.report import results


def series(runs):
  """{label: {level: [(remaining %, accuracy %), ...]}} and dense accuracies."""
  found = collections.defaultdict(lambda: collections.defaultdict(list))
  dense = []
  for prefix, rows in runs:
    for row in rows:
      if row.get("status", "done") != "done" or row.get("test_accuracy") is None:
        continue
      point = (100.0 * row["weights_remaining"], 100.0 * row["test_accuracy"])
      if row["recipe"] == results.DENSE:
        dense.append(point[1])
        continue
      label = f"{prefix}{row['recipe']}"
      found[label][row["level"]].append(point)
  return found, dense


def plot_accuracy_vs_sparsity(runs, path, title="Lottery tickets"):
  """Writes the plot of one or more runs to `path` (PNG).

  Args:
    runs: A list of (label prefix, result rows). Runs with the same prefix and
      recipe (for example several seeds, prefix "") are averaged, with their
      spread drawn as a band.
    path: Output PNG path (written atomically).
    title: The figure title.
  """
  lines, dense = series(runs)
  figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
  smallest = 100.0
  for label, levels in sorted(lines.items()):
    if dense:  # every recipe's curve starts at the dense model
      levels[0] = [(100.0, a) for a in dense]
    ordered = [levels[level] for level in sorted(levels)]
    smallest = min([smallest] + [p[0] for points in ordered for p in points])
    x = [np.mean([p[0] for p in points]) for points in ordered]
    accuracies = [[p[1] for p in points] for points in ordered]
    mean = [np.mean(a) for a in accuracies]
    runs_count = max(len(a) for a in accuracies)
    line, = axes.plot(x, mean, marker="o", markersize=3,
                      label=label + (f" (mean of {runs_count})"
                                     if runs_count > 1 else ""))
    if runs_count > 1:
      axes.fill_between(x, [min(a) for a in accuracies],
                        [max(a) for a in accuracies], alpha=0.2,
                        color=line.get_color())
  if dense:
    axes.axhline(np.mean(dense), color="black", linestyle="--", linewidth=1,
                 label=f"dense ({np.mean(dense):.2f}%)")
  axes.set_xscale("log")
  axes.set_xlim(110.0, smallest / 1.1)  # decreasing: sparser to the right
  ticks = [t for t in (100, 64, 41, 26.2, 16.8, 10.7, 6.9, 4.4, 2.8, 1.8, 1.2,
                       0.7, 0.5, 0.3, 0.2, 0.1) if t >= smallest / 1.1]
  axes.set_xticks(ticks)
  axes.set_xticklabels([f"{t:g}" for t in ticks])
  axes.minorticks_off()
  axes.set_xlabel("% of weights remaining (log scale)")
  axes.set_ylabel("test accuracy (%)")
  axes.set_title(title)
  axes.grid(True, alpha=0.3)
  axes.legend(loc="lower left", fontsize="small")
  figure.tight_layout()
  with artifacts.atomic_path(path) as temporary:
    figure.savefig(temporary, format="png")
  plt.close(figure)
