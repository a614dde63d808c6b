r"""Regenerates the tables and plots of docs/kd_ticket_study.md from its rows.

    python tools/study_report.py            # rewrite the doc's tables and plots
    python tools/study_report.py --check    # exit 1 if the doc is out of date

The study's result rows are committed under docs/kd_ticket_study/ (each run's
`results.json`, and the KD cross-check's figures); the doc's tables sit between
`<!-- table:NAME -->` and `<!-- /table -->` markers, and this tool writes them
from the rows, with the plots beside them. The numbers the prose states are
rendered from the same rows (`study_claims.py`): `--check` also fails when the
prose no longer says what the rows give, or when the rows a table is made from
are missing. Nothing here trains anything.
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
import study_claims  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string("rows", "docs/kd_ticket_study", "The committed rows.")
flags.DEFINE_string("doc", "docs/kd_ticket_study.md", "The doc to update.")
flags.DEFINE_bool("check", False, "Only check that the doc is up to date.")



# The rows each marked table is made from, relative to --rows: a table whose
# rows are all missing is an error, not a table to leave as it was.
SOURCES = {
    "teacher": "study_a/teacher/*.json",
    "sweep": "study_a/kd_sweep/*.json",
    "crosscheck": "study_a/crosscheck_seed_*.json",
    "search": "study_b/search/*.json",
    "screen": "../instability_screen/*.json",
    "c_instability": "study_c/instability_seed_*.json",
    "c_confirm_instability": "study_c_confirm/instability_seed_*.json",
    "c_kd_selection": "study_c/kd_select/*.json",
}
STUDIES = ("study_a", "study_b", "study_c_confirm", "study_c")
for _study in STUDIES:
  for _table in ("test", "selected", "differences"):
    SOURCES[f"{_study[len('study_'):]}_{_table}"] = f"{_study}/seed_*.json"


def missing_rows(folder, names):
  """The row patterns (under `folder`) of the tables `names` that match nothing.

  A table with no entry in `SOURCES` is not checked here.
  """
  return sorted({os.path.join(folder, SOURCES[name]) for name in names
                 if name in SOURCES and not glob.glob(
                     os.path.join(folder, SOURCES[name]))})


def _rows(pattern):
  return [kdticket_tf.results.read(p) for p in sorted(glob.glob(pattern))]


def _percent(value):
  return "" if value is None else f"{100 * value:.2f}"


def teacher_table(folder):
  """The dense candidates of study A: accuracies at the end of training."""
  lines = ["| candidate | validation accuracy (%) | test accuracy (%) |",
           "|---|---|---|"]
  for path in sorted(glob.glob(os.path.join(folder, "study_a", "teacher",
                                            "*.json"))):
    dense = kdticket_tf.results.read(path)[0]
    lines.append(f"| {os.path.basename(path)[:-5]} | "
                 f"{_percent(dense['validation_accuracy'])} | "
                 f"{_percent(dense['test_accuracy'])} |")
  return "\n".join(lines) + "\n"


def _sweep_settings(path):
  """The (alpha, T) of a KD sweep file, `alpha_<alpha>_t_<T>.json`, as text."""
  return re.match(r"alpha_(.+)_t_(.+)\.json", os.path.basename(path)).groups()


def sweep_table(folder):
  """The KD sweep of study A: validation accuracy of `kd` per candidate."""
  lines = None
  paths = glob.glob(os.path.join(folder, "study_a", "kd_sweep", "*.json"))
  for path in sorted(paths, key=lambda p: tuple(map(float,
                                                    _sweep_settings(p)))):
    kd = [r for r in kdticket_tf.results.read(path) if r["recipe"] == "kd"]
    if lines is None:
      lines = (["| alpha, T | " + " | ".join(
          f"{100 * r['sparsity']:.0f}% pruned" for r in kd) + " | mean |",
                "|---|" + "---|" * (len(kd) + 1)])
    alpha, temperature = _sweep_settings(path)
    values = [r["validation_accuracy"] for r in kd]
    lines.append(f"| {alpha}, {temperature} | " +
                 " | ".join(_percent(v) for v in values) +
                 f" | {_percent(sum(values) / len(values))} |")
  return "\n".join(lines or []) + "\n"


def seeds_table(runs, column="test_accuracy"):
  results = kdticket_tf.results
  return results.seeds_to_markdown(results.summarize_seeds(runs, column),
                                   results.recipe_order(runs))


def difference_table(runs, pairs):
  """Paired differences (points) of (recipe, baseline) pairs, by level."""
  results = kdticket_tf.results
  differences = [
      [dict(row, recipe=f"{recipe} - {baseline}")
       for recipe, baseline in pairs
       for row in results.differences_from(rows, baseline)
       if row["recipe"] == recipe]
      for rows in runs]
  return results.seeds_to_markdown(
      results.summarize_seeds(differences),
      [f"{recipe} - {baseline}" for recipe, baseline in pairs], points=True)


def crosscheck_table(folder):
  lines = ["| seed | % pruned | teacher train (%) | teacher test (%) | "
           "kd recipe test (%) | minimal loop test (%) | loop - recipe |",
           "|---|---|---|---|---|---|---|"]
  for path in sorted(glob.glob(os.path.join(folder, "study_a",
                                            "crosscheck_seed_*.json"))):
    with open(path, encoding="utf-8") as stream:
      found = json.load(stream)
    seed = re.search(r"seed_(\d+)", path).group(1)
    lines.append(
        f"| {seed} | {100 * found['sparsity']:.1f} | "
        f"{_percent(found['teacher_train_accuracy'])} | "
        f"{_percent(found['teacher_test_accuracy'])} | "
        f"{_percent(found['recipe_test_accuracy'])} | "
        f"{_percent(found['loop_test_accuracy'])} | "
        f"{100 * (found['loop_test_accuracy'] - found['recipe_test_accuracy']):+.2f} |")
  return "\n".join(lines) + "\n"


def search_table(folder):
  """Study B's regime search: lt and rewind of each candidate setup."""
  lines = ["| setup | dense (%) | % pruned | lt (%) | rewind (%) | "
           "lt - rewind |", "|---|---|---|---|---|---|"]
  for path in sorted(glob.glob(os.path.join(folder, "study_b", "search",
                                            "*.json"))):
    rows = kdticket_tf.results.read(path)
    dense = rows[0]["test_accuracy"]
    for level in sorted({r["level"] for r in rows if r["level"]}):
      cells = {r["recipe"]: r for r in rows if r["level"] == level}
      if "lt" not in cells or "rewind" not in cells:
        continue
      lt, rewind = (cells[k]["test_accuracy"] for k in ("lt", "rewind"))
      lines.append(f"| {os.path.basename(path)[:-5]} | {_percent(dense)} | "
                   f"{100 * cells['lt']['sparsity']:.3g} | {_percent(lt)} | "
                   f"{_percent(rewind)} | {100 * (lt - rewind):+.2f} |")
  return "\n".join(lines) + "\n"


def seed_runs(folder):
  """Returns `{study: [rows of each seed]}`, "study_a", "study_b", "study_c"."""
  return {name: _rows(os.path.join(folder, name, "seed_*.json"))
          for name in STUDIES}


def instability_table(folder, study):
  """A study's instability, per seed: the dense barrier at each start step."""
  lines = ["| seed | start k | barrier (test, points) | barrier (train) | "
           "end test errors (%) | stable | rewind_step=auto chose |",
           "|---|---|---|---|---|---|---|"]
  for path in sorted(glob.glob(os.path.join(folder, study,
                                            "instability_seed_*.json"))):
    with open(path, encoding="utf-8") as stream:
      found = json.load(stream)
    seed = re.search(r"seed_(\d+)", path).group(1)
    for row in found["rows"]:
      chosen = found.get("choice", {}).get("step") == row["start_step"]
      lines.append(
          f"| {seed} | {row['start']} ({row['start_step']} it) | "
          f"{row['barrier']:.2f} | {row['train_barrier']:.2f} | "
          f"{row['end_errors'][0]:.2f}, {row['end_errors'][1]:.2f} | "
          f"{'yes' if row['stable'] else 'no'} | {'yes' if chosen else ''} |")
  return "\n".join(lines) + "\n"


def kd_selection_table(folder):
  """Study C's KD settings: validation accuracy of kd at 90% pruned, seed 0."""
  lines = ["| temperature, reduction | kd validation accuracy (%) | "
           "dense validation accuracy (%) |", "|---|---|---|"]
  for path in sorted(glob.glob(os.path.join(folder, "study_c", "kd_select",
                                            "*.json"))):
    rows = kdticket_tf.results.read(path)
    kd = [r for r in rows if r["recipe"] == "kd"]
    name = os.path.basename(path)[:-5].replace("_", ", ").lstrip("T")
    lines.append(f"| {name} | "
                 f"{_percent(kd[0]['validation_accuracy']) if kd else ''} | "
                 f"{_percent(rows[0]['validation_accuracy'])} |")
  return "\n".join(lines) + "\n"


def screen_table(folder):
  """The instability screen (tools/run_screen.py's table of its rows)."""
  import run_screen  # pylint: disable=g-import-not-at-top
  rows = run_screen.read_rows(os.path.join(os.path.dirname(folder),
                                           "instability_screen"))
  return run_screen.table(rows)


def tables(folder, studies):
  """Returns `{name: markdown}` of every table the doc holds."""
  found = {"teacher": teacher_table(folder), "sweep": sweep_table(folder),
           "crosscheck": crosscheck_table(folder),
           "search": search_table(folder), "screen": screen_table(folder),
           "c_instability": instability_table(folder, "study_c"),
           "c_confirm_instability": instability_table(folder,
                                                      "study_c_confirm")}
  if glob.glob(os.path.join(folder, "study_c", "kd_select", "*.json")):
    found["c_kd_selection"] = kd_selection_table(folder)
  for study, runs in studies.items():
    if not runs:
      continue
    name = study[len("study_"):]
    found[f"{name}_test"] = seeds_table(runs)
    found[f"{name}_selected"] = seeds_table(
        runs, "test_accuracy_at_best_validation")
    pairs = [("kd", "rewind"), ("kd_rewind", "rewind"), ("kd_rewind", "kd"),
             ("kd_lr_rewind", "lr_rewind"), ("kd", "lt"), ("lt", "rewind")]
    if name == "c":  # the regime where θ0 fails: is the initialisation why?
      pairs.append(("random_reinit", "lt"))
    present = set(kdticket_tf.results.recipe_order(runs))
    found[f"{name}_differences"] = difference_table(
        runs, [(a, b) for a, b in pairs if {a, b} <= present])
  return found


def plots(folder, studies):
  """Writes the band plot of each study beside its rows."""
  for name, runs in studies.items():
    if runs:
      kdticket_tf.plot_accuracy_vs_sparsity(
          [("", rows) for rows in runs], os.path.join(folder, f"{name}.png"),
          title=f"{name.replace('_', ' ').title()}: test accuracy, mean and "
          f"min-max over {len(runs)} seeds")


def main(argv):
  del argv
  with open(FLAGS.doc, encoding="utf-8") as stream:
    text = stream.read()
  absent = missing_rows(FLAGS.rows,
                        kdticket_tf.results.marked_tables(text))
  if absent:
    print(f"study_report: {FLAGS.doc} is made from rows that are missing "
          f"(no file matches {', '.join(absent)}); restore them from git "
          "before checking or regenerating the doc.", file=sys.stderr)
    return 1
  studies = seed_runs(FLAGS.rows)
  found = tables(FLAGS.rows, studies)
  new = kdticket_tf.results.update_marked_tables(text, found)
  missing = set(found) - kdticket_tf.results.marked_tables(text)
  if missing and not FLAGS.check:
    print(f"study_report: {FLAGS.doc} has no marker for: "
          f"{', '.join(sorted(missing))}", file=sys.stderr)
  return prose_claims.check_or_write(
      "study_report", FLAGS.doc, text, new,
      lambda: study_claims.claims(FLAGS.rows, studies), FLAGS.check,
      lambda: plots(FLAGS.rows, studies),
      f"{FLAGS.doc}: {len(found)} tables; plots in {FLAGS.rows}")

if __name__ == "__main__":
  app.run(main)
