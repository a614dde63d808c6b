"""Result rows of a lottery run: `results.json`, `results.csv`, `results.md`.

One row per (recipe, level); the dense run is the row with recipe `dense` and
level 0. Beside the fraction of prunable weights pruned (`sparsity`), a row
gives the fraction of hidden channels removed whole (`channels_removed`, 0
but under the `channel` structure) and the fraction of the dense network's
multiply-adds its kept weights do (`flops_remaining`, `export/flops.py`).
The files are rewritten atomically each time a level finishes.
"""

import csv
import io
import os
import re

from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib

COLUMNS = ("recipe", "level", "sparsity", "structure", "weights_remaining",
           "channels_removed", "flops_remaining", "test_accuracy",
           "validation_accuracy", "best_validation_epoch",
           "test_accuracy_at_best_validation", "train_loss", "epochs",
           "constant_lr", "seconds", "status", "warning")
DENSE = layout_lib.DENSE
# A table a doc keeps up to date: `<!-- table:NAME -->` ... `<!-- /table -->`.
_MARKED_TABLE = re.compile(r"(<!-- table:(\w+) -->\n)(.*?)(<!-- /table -->)",
                           re.S)


def selected_on_validation(history):
  """Returns the figures of the epoch chosen by validation accuracy.

  The test set never chooses: the epoch is the one of highest validation
  accuracy (the earliest among equals), and its test accuracy is reported.

  Args:
    history: Per-epoch metric dicts (`epoch`, `validation_accuracy`,
      `test_accuracy`, ...).

  Returns:
    `{"best_validation_epoch", "test_accuracy_at_best_validation"}`, both None
    when the run has no validation split.
  """
  scored = [h for h in history if h.get("validation_accuracy") is not None]
  if not scored:
    return {"best_validation_epoch": None,
            "test_accuracy_at_best_validation": None}
  best = max(scored, key=lambda h: (h["validation_accuracy"], -h["epoch"]))
  return {"best_validation_epoch": best["epoch"],
          "test_accuracy_at_best_validation": best.get("test_accuracy")}


def sort_rows(rows, recipe_order=()):
  """Sorts rows by level, then by `recipe_order` (dense first)."""
  order = {name: index for index, name in enumerate((DENSE,) + tuple(recipe_order))}
  return sorted(rows, key=lambda r: (r["level"], order.get(r["recipe"], 999),
                                     r["recipe"]))


def to_csv(rows):
  """Returns the rows as CSV text with the standard columns."""
  stream = io.StringIO()
  writer = csv.DictWriter(stream, fieldnames=COLUMNS, extrasaction="ignore",
                          lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: row.get(k, "") for k in COLUMNS})
  return stream.getvalue()


def _percent(value):
  return "" if value is None else f"{100.0 * value:.2f}"


def _test_accuracy_cell(row):
  flag = " (KD collapse)" if row.get("warning") else ""
  return _percent(row.get("test_accuracy")) + flag


def to_markdown(rows, recipe_order=(), cell=_test_accuracy_cell):
  """Returns a markdown table: levels down, recipes across, test accuracy in %.

  Each level's row shows the % of prunable weights remaining (of the first
  recipe that has the level; magnitude recipes of one schedule agree).

  Args:
    rows: Result rows.
    recipe_order: Recipes in column order (others follow, sorted).
    cell: Text of a finished row's cell (default: its test accuracy in %).
  """
  recipes = [r for r in recipe_order if any(x["recipe"] == r for x in rows)]
  recipes += sorted({x["recipe"] for x in rows} - set(recipes) - {DENSE})
  dense = [x for x in rows if x["recipe"] == DENSE]
  levels = sorted({x["level"] for x in rows if x["recipe"] != DENSE})
  header = ["level", "% weights remaining"] + (recipes or ["test accuracy"])
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
  if dense:
    value = cell(dense[0])
    lines.append("| 0 (dense) | 100.0 | " +
                 " | ".join(value for _ in header[2:]) + " |")
  for level in levels:
    cells = {x["recipe"]: x for x in rows if x["level"] == level}
    remaining = [cells[r]["weights_remaining"] for r in recipes
                 if r in cells and cells[r].get("weights_remaining") is not None]
    row = [str(level), f"{100.0 * remaining[0]:.1f}" if remaining else ""]
    for recipe in recipes:
      found = cells.get(recipe)
      if found is None:
        row.append("")
      elif found.get("status", "done") != "done":
        row.append(found.get("status"))
      else:
        row.append(cell(found))
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines) + "\n"


def recipe_order(runs):
  """Returns the recipes of one or more runs in the order they first appear."""
  order = []
  for rows in runs:
    for row in rows:
      if row["recipe"] != DENSE and row["recipe"] not in order:
        order.append(row["recipe"])
  return order


def summarize_seeds(runs, column="test_accuracy"):
  """Returns mean, standard deviation and count per (recipe, level) over runs.

  Args:
    runs: One list of result rows per seed (the same setup).
    column: The row field to summarise.

  Returns:
    Rows `{"recipe", "level", "weights_remaining", "mean", "std", "n"}`, one
    per (recipe, level) that finished in at least one run; `std` is the sample
    standard deviation (0.0 when n is 1). The dense row counts once per run.
  """
  values, remaining = {}, {}
  for rows in runs:
    for row in rows:
      if row.get("status", "done") != "done" or row.get(column) is None:
        continue
      key = (row["recipe"], row["level"])
      values.setdefault(key, []).append(float(row[column]))
      remaining.setdefault(key, []).append(float(row["weights_remaining"]))
  summary = []
  for (recipe, level), found in values.items():
    mean = sum(found) / len(found)
    spread = (sum((v - mean)**2 for v in found) / (len(found) - 1)
              if len(found) > 1 else 0.0)
    summary.append({"recipe": recipe, "level": level,
                    "weights_remaining": sum(remaining[(recipe, level)]) /
                                         len(found),
                    "mean": mean, "std": spread**0.5, "n": len(found)})
  return summary


def differences_from(rows, baseline, column="test_accuracy"):
  """Returns the rows of one run with `column` minus the baseline's, per level.

  The baseline recipe's own rows and the dense row are left out; a level where
  the baseline did not finish has no difference.
  """
  reference = {r["level"]: r[column] for r in rows
               if r["recipe"] == baseline and r.get("status", "done") == "done"
               and r.get(column) is not None}
  return [dict(r, **{column: r[column] - reference[r["level"]]})
          for r in rows
          if r["recipe"] not in (baseline, DENSE) and r["level"] in reference
          and r.get("status", "done") == "done" and r.get(column) is not None]


def seeds_to_markdown(summary, recipe_order=(), points=False):
  """Returns a markdown table of `summarize_seeds` output: mean ± std (n), in %.

  With `points`, the values are differences, shown signed in points.
  """
  sign = "+" if points else ""
  return to_markdown(
      [dict(row, status="done") for row in summary], recipe_order,
      cell=lambda row: (f"{100 * row['mean']:{sign}.2f} ± "
                        f"{100 * row['std']:.2f} ({row['n']})"))


def read(path):
  """Returns the result rows of a workdir, or of a results JSON file.

  Raises:
    ValueError: when `path` holds no results.
  """
  if os.path.isdir(path):
    path = os.path.join(path, "results.json")
  if not os.path.exists(path):
    raise ValueError(f"{path} does not exist; give a kdticket_tf workdir or "
                     "its results.json.")
  return artifacts.read_json(path)


def write(layout, rows, recipe_order=()):
  """Writes `results.json`, `results.csv` and `results.md` of a `Layout`."""
  rows = sort_rows(rows, recipe_order)
  artifacts.write_json(layout.results("json"), rows)
  artifacts.write_text(layout.results("csv"), to_csv(rows))
  artifacts.write_text(layout.results("md"),
                       "Test accuracy (%) by level and recipe.\n\n" +
                       to_markdown(rows, recipe_order))
  return rows


def latency_cell(value, unit=""):
  """`<µs><unit> (<ratio to dense>)` of a benchmark latency; `–` if none.

  `value` is one entry of `tools/benchmark_inference.py`'s `latency` or
  `full_speed_latency` (`seconds`, `ratio_to_dense`), or None.
  """
  if value is None or value["seconds"] is None:
    return "–"
  ratio = value["ratio_to_dense"]
  return (f"{1e6 * value['seconds']:.1f}{unit} "
          f"({'–' if ratio is None else f'{ratio:.2f}'})")


def mean_std(values, signed=False):
  """`mean ± sample std (n)` of fractions, in % (or signed points); '' if none.

  None values are left out.
  """
  values = [v for v in values if v is not None]
  if not values:
    return ""
  mean = sum(values) / len(values)
  std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)
         if len(values) > 1 else 0.0) ** 0.5
  sign = "+" if signed else ""
  return f"{100 * mean:{sign}.2f} ± {100 * std:.2f} ({len(values)})"


def marked_tables(text):
  """The names of the marked tables of a doc's `text`."""
  return {match.group(2) for match in _MARKED_TABLE.finditer(text)}


def update_marked_tables(text, tables):
  """Returns `text` with each marked table replaced by `tables[name]`.

  A table not in `tables` is left as it is.
  """
  def replace(match):
    return (match.group(1) + tables.get(match.group(2), match.group(3)) +
            match.group(4))
  return _MARKED_TABLE.sub(replace, text)

