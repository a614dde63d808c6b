"""The coordinator's side of the instability analysis: tables, plot, choice.

As instability stages finish, the coordinator gathers their rows (one per
network and start step) into `instability.json`, `.csv` and `.md`, draws
`instability.png` (error against the interpolation coefficient, one curve per
start step, and the barrier against the start step) and writes TensorBoard
scalars. Under `PruningConfig.rewind_step=auto` it then chooses k
(`choose_rewind_step`) before any ticket trains.
"""

import csv
import io
import os
import shutil

from kdticket_tf.store import artifacts
from kdticket_tf.instability import interpolation as instability
from kdticket_tf.instability import graph as instability_graph

COLUMNS = ("network", "level", "sparsity", "start", "start_step", "barrier",
           "train_barrier", "end_errors", "train_end_errors", "errors",
           "train_errors", "bn_statistics", "stable", "data_seeds", "seconds")


def gather(layout, keys):
  """Returns the rows of the finished instability stages among `keys`."""
  rows = []
  for key in keys:
    if not instability_graph.is_key(key):
      continue
    path = layout.metrics(key)
    if os.path.exists(path):
      metrics = artifacts.read_json(path)
      if metrics.get("status") == "done":
        rows.extend(metrics["rows"])
  return sorted(rows, key=lambda r: (r["level"], r["start_step"]))


def to_markdown(rows, threshold):
  """Returns the table of `rows`: barrier (test, train), end errors, stable."""
  lines = [
      "| network | start k | k (steps) | barrier (test, points) | barrier "
      "(train) | end test errors (%) | BatchNorm statistics | stable "
      f"(≤ {threshold:g}) | seconds |",
      "|---|---|---|---|---|---|---|---|---|"]
  for row in rows:
    ends = ", ".join(f"{e:.2f}" for e in row["end_errors"])
    lines.append(
        f"| {row['network']} | {row['start']} | {row['start_step']} | "
        f"{row['barrier']:.2f} | {row['train_barrier']:.2f} | {ends} | "
        f"{row['bn_statistics']} | {'yes' if row['stable'] else 'no'} | "
        f"{row['seconds']:.0f} |")
  return "\n".join(lines) + "\n"


def to_csv(rows):
  """Returns `rows` as CSV; list cells are joined with spaces."""
  stream = io.StringIO()
  writer = csv.writer(stream)
  writer.writerow(COLUMNS)
  for row in rows:
    writer.writerow([" ".join(f"{v:g}" for v in row[c])
                     if isinstance(row.get(c), list) else row.get(c)
                     for c in COLUMNS])
  return stream.getvalue()


def plot(rows, path, title):
  """Draws error against the coefficient per start step, and barrier vs k."""
  # pylint: disable=g-import-not-at-top
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot
  figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4))
  networks = sorted({r["network"] for r in rows},
                    key=lambda n: [r["level"] for r in rows
                                   if r["network"] == n][0])
  for row in rows:
    prefix = "" if len(networks) == 1 else f"{row['network']}, "
    left.plot(row["coefficients"], row["errors"], marker="o", markersize=3,
              label=f"{prefix}k = {row['start']}")
  left.set_xlabel("interpolation coefficient α")
  left.set_ylabel("test error (%)")
  left.set_title("error along the linear path")
  left.legend(fontsize="small")
  for network in networks:
    mine = [r for r in rows if r["network"] == network]
    right.plot([r["start_step"] for r in mine], [r["barrier"] for r in mine],
               marker="o", label=network)
  right.set_xlabel("start step k (iterations)")
  right.set_ylabel("barrier (test error points)")
  right.set_title("instability against k")
  if rows:
    right.axhline(rows[0].get("threshold", 2.0), color="gray",
                  linestyle="--", linewidth=1)
  right.legend(fontsize="small")
  figure.suptitle(title)
  figure.tight_layout()
  with artifacts.atomic_path(path) as temporary:
    figure.savefig(temporary, format="png", dpi=110)
  pyplot.close(figure)


def write_scalars(layout, rows):
  """TensorBoard run `instability`: barriers against k, paths against α."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  writer = tf.summary.create_file_writer(
      os.path.join(layout.tensorboard, instability_graph.KIND))
  with writer.as_default():
    for row in rows:
      name = row["network"].replace("/", "_")
      tf.summary.scalar(f"instability/{name}/barrier", row["barrier"],
                        step=row["start_step"])
      tf.summary.scalar(f"instability/{name}/train_barrier",
                        row["train_barrier"], step=row["start_step"])
      for alpha, error in zip(row["coefficients"], row["errors"]):
        tf.summary.scalar(
            f"instability/{name}/start_{row['start_step']}it/test_error",
            error, step=int(round(100 * alpha)))
  writer.close()


def write(layout, rows, config, title):
  """Writes `instability.json/.csv/.md/.png` and the TensorBoard scalars."""
  threshold = config.analysis.threshold
  for row in rows:
    row["threshold"] = threshold
  artifacts.write_json(layout.instability("json"),
                       {"threshold": threshold, "rows": rows})
  artifacts.write_text(layout.instability("csv"), to_csv(rows))
  artifacts.write_text(layout.instability("md"), to_markdown(rows, threshold))
  if rows:
    plot(rows, layout.instability("png"), title)
    write_scalars(layout, rows)


def choose_rewind_step(layout, rows, config):
  """Records `rewind_step=auto`'s choice and puts its θk in place.

  Args:
    layout: The workdir's `Layout`.
    rows: The dense network's instability rows.
    config: The `LotteryConfig`.

  Returns:
    The chosen row.

  Raises:
    ValueError: when no start step is stable (nothing else has trained).
  """
  threshold = config.analysis.threshold
  table = to_markdown(rows, threshold)
  chosen = instability.choose_step(rows, threshold)
  if chosen is None:
    barriers = ", ".join(f"{r['start']}: {r['barrier']:.2f}" for r in rows
                         if r["level"] == 0)
    raise ValueError(
        "PruningConfig.rewind_step='auto' found no stable start step: the "
        f"dense barriers ({barriers}) all exceed "
        f"AnalysisConfig.threshold={threshold:g}; add later "
        "AnalysisConfig.steps or raise the threshold. No ticket was trained; "
        f"the table is in {layout.instability('md')}.")
  if not os.path.exists(layout.rewind_weights):
    with artifacts.atomic_path(layout.rewind_weights) as temporary:
      shutil.copyfile(layout.start_weights(chosen["start_step"]), temporary)
  artifacts.write_json(layout.rewind_choice, {
      "step": chosen["start_step"], "start": chosen["start"],
      "barrier": chosen["barrier"], "threshold": threshold,
      "table": [{k: r[k] for k in ("start", "start_step", "barrier",
                                   "stable")} for r in rows
                if r["level"] == 0]})
  artifacts.write_text(
      os.path.join(layout.workdir, "rewind_choice.md"),
      f"rewind_step=auto chose k = {chosen['start']} ({chosen['start_step']} "
      f"steps): the earliest start step whose dense barrier "
      f"({chosen['barrier']:.2f} points) is at most {threshold:g}.\n\n" +
      table)
  return chosen


def record(layout, keys, config, level, chief, tickets_follow, title):
  """Records a finished instability stage; returns the lines to print.

  Rewrites the tables and the plot (the chief only) and, for the dense
  network under `PruningConfig.rewind_step=auto`, chooses k.

  Args:
    layout: The workdir's `Layout`.
    keys: The graph's stage keys.
    config: The `LotteryConfig`.
    level: The level of the network whose stage finished.
    chief: Whether this process writes the tables.
    tickets_follow: Whether tickets train after the choice; without them an
      unstable network is reported, not refused.
    title: The plot's title.

  Raises:
    ValueError: when tickets follow and no start step is stable.
  """
  rows = gather(layout, keys)
  if chief:
    write(layout, rows, config, title)
  mine = [r for r in rows if r["level"] == level]
  lines = [f"instability of {mine[0]['network'] if mine else level}: "
           "barrier " + ", ".join(f"k={r['start']}: {r['barrier']:.2f}"
                                  for r in mine) + " (test error points)"]
  if config.pruning.rewind_step.is_auto and level == 0:
    try:
      chosen = choose_rewind_step(layout, mine, config)
    except ValueError as error:
      if tickets_follow:
        raise  # tickets would train from k: stop before any does
      return lines + [str(error)]
    lines.append(f"rewind_step=auto chose k={chosen['start']} "
                 f"({chosen['start_step']} steps, barrier "
                 f"{chosen['barrier']:.2f})")
  return lines
