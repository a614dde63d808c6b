r"""Writes the tables and plot of docs/channel_tickets.md (study E) from its rows.

    python tools/channel_report.py            # rewrite the doc's tables, plot
    python tools/channel_report.py --check    # exit 1 if the doc is stale
    python tools/channel_report.py --widths=workdirs/study_e/conv_l1/seed_0 \
        > docs/channel_tickets/conv_l1/widths_seed_0.json

The rows are committed under docs/channel_tickets/: `<setup>_<arm>/seed_S.json`
(a run's `results.json`; setups `lenet` and `conv`, arms `l1` and `refill`,
the refill arm starting from a copy of the L1 arm's dense run, so the two are
paired by seed; the conv setup also `layerwise`, layer-wise ranking from its
own dense run, which `--deterministic` makes the L1 arm's: its prose checks
that their dense accuracies agree), `<setup>_<arm>/widths_seed_S.json` (the
channels each level's mask keeps, per layer: `--widths` reads them from a
workdir's masks) and the inference benchmarks
(`tools/benchmark_inference.py --format=json`). Every level of a seed is one
one-shot mask shared by its recipes, so a difference between recipes is
paired by seed and level. Tables sit between `<!-- table:NAME -->` and
`<!-- /table -->`; nothing here trains or times. The numbers the prose states
are rendered from the same rows (`channel_claims.py`,
`channel_layerwise_claims.py`): `--check` also fails when the prose no longer
says what the rows give, or when rows the doc is made from are missing.
"""

import glob
import json
import os
import re
import sys

from absl import app
from absl import flags
import numpy as np

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import channel_claims
import channel_speed_claims
import channel_layerwise_claims
import inference_tables
import prose_claims
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string("rows", "docs/channel_tickets", "The committed rows.")
flags.DEFINE_string("doc", "docs/channel_tickets.md", "The doc to update.")
flags.DEFINE_bool("check", False, "Only check that the doc is up to date.")
flags.DEFINE_string("widths", None,
                    "Print the channels kept per layer and level of this "
                    "workdir's masks as JSON, and do nothing else.")

SETUPS = {"lenet": "LeNet-300-100, Fashion-MNIST (units)",
          "conv": "MNIST-1D ConvNet (filters)"}
TARGETS = (0.5, 0.75, 0.9)  # the weights pruned at levels 1, 2, 3
RECIPES = ("lt", "rewind", "kd", "kd_rewind", "finetune", "lr_rewind",
           "kd_lr_rewind", "kd_finetune", "random_reinit")
# The recipes each arm ran, and the arms each setup has.
ARM_RECIPES = {"l1": RECIPES, "refill": ("lt", "kd"), "layerwise": RECIPES}
ARMS = {"lenet": ("l1", "refill"), "conv": ("l1", "refill", "layerwise")}
KD_PAIRS = channel_claims.KD_PAIRS  # each KD recipe and its baseline
# Paired differences `(a, b, arm of a, arm of b)`, by question
# (docs/channel_tickets.md, "Verdicts"); a row whose arm a setup lacks is left
# out of its table.
DIFFERENCES = (
    (("lt", "random_reinit", "l1", "l1"),) +
    tuple((a, b, "l1", "l1") for a, b in KD_PAIRS) +
    (("kd_rewind", "lt", "l1", "l1"), ("rewind", "lt", "l1", "l1"),
     ("lt", "lt", "refill", "l1"), ("kd", "kd", "refill", "l1")) +
    tuple((r, r, "layerwise", "l1") for r in RECIPES) +
    (("lt", "random_reinit", "layerwise", "layerwise"),) +
    tuple((a, b, "layerwise", "layerwise") for a, b in KD_PAIRS))


def missing_rows(folder):
  """The row files (patterns under `folder`) the doc needs, matching nothing."""
  needed = [os.path.join(folder, f"{setup}_{arm}", name)
            for setup in SETUPS for arm in ARMS[setup]
            for name in ("seed_*.json", "widths_seed_*.json")]
  return [pattern for pattern in needed if not glob.glob(pattern)]


def seed_rows(folder):
  """Returns `{(setup, arm): {seed: rows}}` of the committed runs."""
  found = {}
  for setup in SETUPS:
    for arm in ARMS[setup]:
      for path in sorted(glob.glob(os.path.join(folder, f"{setup}_{arm}",
                                                "seed_*.json"))):
        seed = int(re.search(r"seed_(\d+)\.json$", path).group(1))
        found.setdefault((setup, arm), {})[seed] = [
            r for r in kdticket_tf.results.read(path)
            if r.get("status", "done") == "done"]
  return found


def value(rows, recipe, level, field="test_accuracy"):
  """The row of `recipe` at `level`'s `field`, or None."""
  for row in rows:
    if row["recipe"] == recipe and row["level"] == level:
      return row[field]
  return None


class Study:
  """The committed runs of study E, with the paired arithmetic on them.

  `found` is `seed_rows`'s; `widths`, `{(setup, arm): read_widths(...)}`.
  """

  def __init__(self, found, widths=None):
    self.found = found
    self.widths = widths or {}

  def seeds(self, setup, arm="l1"):
    return sorted(self.found.get((setup, arm), {}))

  def values(self, setup, arm, recipe, level, field="test_accuracy"):
    runs = self.found.get((setup, arm), {})
    return [value(runs[s], recipe, level, field) for s in sorted(runs)]

  def minus(self, setup, a, b, level, arm_a="l1", arm_b="l1",
            field="test_accuracy"):
    """`a - b` per seed present in both arms (paired), Nones left out."""
    left = self.found.get((setup, arm_a), {})
    right = self.found.get((setup, arm_b), {})
    out = []
    for seed in sorted(set(left) & set(right)):
      x = value(left[seed], a, level, field)
      y = value(right[seed], b, level, field)
      if x is not None and y is not None:
        out.append(x - y)
    return out

  def budget(self, setup, recipe, arm="l1"):
    """Epochs trained from θ0 to the ticket: the dense run's and its own."""
    runs = self.found.get((setup, arm), {})
    totals = [value(rows, "dense", 0, "epochs") + value(rows, recipe, 1,
                                                        "epochs")
              for rows in runs.values()
              if value(rows, recipe, 1, "epochs") is not None]
    return max(totals) if totals else None


def _levels():
  return range(1, len(TARGETS) + 1)


def _label(recipe, arm):
  return recipe if arm == "l1" else f"{recipe} ({arm})"


def _arm_recipes(setup):
  """`(arm, recipe)` in the order the tables list them."""
  return [(arm, recipe) for arm in ARMS[setup] for recipe in ARM_RECIPES[arm]]


def accuracy_table(study, setup, field="test_accuracy"):
  """Test accuracy per recipe and level of one setup, mean ± std (seeds)."""
  head = " | ".join(f"{100 * t:.0f}% of weights" for t in TARGETS)
  lines = [f"| recipe | epochs from θ0 | {head} |",
           "|---|---|" + "---|" * len(TARGETS)]
  for arm in ARMS[setup]:
    runs = study.found.get((setup, arm), {})
    for label, name in (("weights pruned (%)", "sparsity"),
                        ("channels removed (%)", "channels_removed"),
                        ("multiply-adds left (%)", "flops_remaining")):
      cells = [kdticket_tf.results.mean_std(
          [value(rows, "lt", level, name) for rows in runs.values()])
               for level in _levels()]
      shown = label if arm == "l1" else f"{label[:-4]}, {arm} (%)"
      lines.append(f"| *{shown}* | | " + " | ".join(cells) + " |")
  dense = kdticket_tf.results.mean_std(
      study.values(setup, "l1", "dense", 0, field))
  epochs = study.values(setup, "l1", "dense", 0, "epochs")
  lines.append(f"| dense | {max(epochs) if epochs else ''} | "
               + " | ".join([dense] * len(TARGETS)) + " |")
  for arm, recipe in _arm_recipes(setup):
    cells = [kdticket_tf.results.mean_std(
        study.values(setup, arm, recipe, level, field))
             for level in _levels()]
    lines.append(f"| {_label(recipe, arm)} | "
                 f"{study.budget(setup, recipe, arm) or ''} | "
                 + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def difference_table(study, setup, field="test_accuracy"):
  """The paired differences the verdicts read, in points."""
  head = " | ".join(f"{100 * t:.0f}%" for t in TARGETS)
  lines = [f"| difference (points, paired by seed) | {head} |",
           "|---|" + "---|" * len(TARGETS)]
  for a, b, arm_a, arm_b in DIFFERENCES:
    if not {arm_a, arm_b} <= set(ARMS[setup]):
      continue
    label = (_label(f"{a} − {b}", arm_a) if arm_a == arm_b else
             f"{a}: {arm_a} − {arm_b.upper()}")
    cells = [kdticket_tf.results.mean_std(
        study.minus(setup, a, b, level, arm_a, arm_b, field), signed=True)
             for level in _levels()]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def collapse_table(study, setup, below=0.2):
  """How many seeds of each recipe ended below `below` test accuracy."""
  head = " | ".join(f"{100 * t:.0f}%" for t in TARGETS)
  lines = [f"| recipe | {head} |", "|---|" + "---|" * len(TARGETS)]
  for arm, recipe in _arm_recipes(setup):
    cells = []
    for level in _levels():
      values = [v for v in study.values(setup, arm, recipe, level)
                if v is not None]
      cells.append(f"{sum(v < below for v in values)} of {len(values)}")
    lines.append(f"| {_label(recipe, arm)} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def read_widths(folder, setup, arm="l1"):
  """`{seed: {level: {layer: [width, kept]}}}` from the committed widths."""
  found = {}
  for path in sorted(glob.glob(os.path.join(folder, f"{setup}_{arm}",
                                            "widths_seed_*.json"))):
    seed = int(re.search(r"seed_(\d+)\.json$", path).group(1))
    with open(path, encoding="utf-8") as stream:
      found[seed] = json.load(stream)
  return found


def widths_table(folder, setup):
  """Channels kept per layer at each level, every seed and arm."""
  lines = ["| level | arm | " + " | ".join(["layer: kept of width, seed by "
                                           "seed"]) + " |", "|---|---|---|"]
  for level in _levels():
    for arm in ARMS[setup]:
      widths = read_widths(folder, setup, arm)
      if not widths:
        continue
      layers = list(next(iter(widths.values()))[str(level)])
      cells = []
      for layer in layers:
        kept = [str(widths[s][str(level)][layer][1]) for s in sorted(widths)]
        full = next(iter(widths.values()))[str(level)][layer][0]
        cells.append(f"{layer} {'/'.join(kept)} of {full}")
      lines.append(f"| {level} ({100 * TARGETS[level - 1]:.0f}%) | {arm} | "
                   + ", ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def workdir_widths(workdir):
  """The channels `lt`'s mask keeps at each level of `workdir`, per layer."""
  found = {}
  for path in sorted(glob.glob(os.path.join(workdir, "lt", "level_*",
                                            "masks.npz"))):
    level = int(re.search(r"level_(\d+)", path).group(1))
    with np.load(path) as masks:
      found[str(level)] = {
          key.split(":", 1)[1].rsplit(".", 1)[0]: [
              int(masks[key].shape[-1]),
              int((masks[key].reshape(-1, masks[key].shape[-1]).sum(0)
                   > 0).sum())]
          for key in sorted(masks.files)}
  return found


def benchmarks(folder, prefix="benchmark_"):
  """`{name: run}` of the committed `<prefix><name>.json` runs."""
  found = {}
  for path in sorted(glob.glob(os.path.join(folder, f"{prefix}*.json"))):
    with open(path, encoding="utf-8") as stream:
      found[os.path.basename(path)[len(prefix):-len(".json")]] = (
          json.load(stream))
  return found


def speed_table(bench, field="latency"):
  """Latency of dense, masked, compacted and control, ratio to dense."""
  if not bench:
    return "(no benchmark committed yet)\n"
  labels = list(bench["models"][0][field])
  cpu = bench["meta"]["cpu_speed"]
  lines = [f"{bench['meta']['rounds']} interleaved rounds; CPU speed probe "
           f"{1e3 * cpu['fastest_probe_seconds']:.3f} ms at its fastest, the "
           f"CPU at {1 / cpu['median_probe_over_fastest']:.2f} of that speed "
           f"at the median; load average {bench['meta']['load_average'][0]:.1f}"
           f".{inference_tables.threads_line(bench['meta'], bench['models'])}"
           f"{inference_tables.floor_line(bench['meta'])}"
           " Latency: median over rounds (ratio to dense, median of "
           "per-round ratios).", "",
           "| model | multiply-adds | " + " | ".join(
               inference_tables.column(label, threads=False)
               for label in labels) + " |",
           "|---|---|" + "---|" * len(labels)]
  for model in bench["models"]:
    ratio = model.get("macs_ratio")
    cells = [model["name"], "" if ratio is None else f"{ratio:.2f}x"]
    cells += [kdticket_tf.results.latency_cell(model[field].get(k), " µs")
              for k in labels]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def repeats_table(runs):
  """LeNet's Session call at batch 32, run by run (`repeats/`)."""
  if not runs:
    return "(no repeated runs committed yet)\n"
  label = channel_speed_claims.REPEATED
  caller = channel_speed_claims.REPEATED_ON_CALLER
  ticket = channel_speed_claims.TICKET
  control = channel_speed_claims.CONTROLS["lenet"]
  lines = [f"| run | dense | {ticket} | {control} | empty call | {ticket} "
           "net of it | on the caller's thread: dense, "
           f"{ticket}, empty call | CPU speed probe |",
           "|---|---|---|---|---|---|---|---|"]
  for number, run in enumerate(runs, 1):
    models = {m["name"]: m["latency"] for m in run["models"]}
    dense, compact = models["dense/0"], models[ticket]
    floor = run["meta"]["session_floor"]
    net = ((compact[label]["seconds"] - floor[label]["seconds"]) /
           (dense[label]["seconds"] - floor[label]["seconds"]))
    on_caller = (
        f"{1e6 * dense[caller]['seconds']:.1f} µs, "
        f"{compact[caller]['ratio_to_dense']:.2f}x, "
        f"{1e6 * floor[caller]['seconds']:.1f} µs" if caller in dense
        else "–")
    lines.append(
        f"| {number} | {1e6 * dense[label]['seconds']:.1f} µs | "
        f"{compact[label]['ratio_to_dense']:.2f}x | "
        f"{models[control][label]['ratio_to_dense']:.2f}x | "
        f"{1e6 * floor[label]['seconds']:.1f} µs | {net:.2f}x | "
        f"{on_caller} | "
        f"{1e3 * run['meta']['cpu_speed']['fastest_probe_seconds']:.3f} ms |")
  return "\n".join(lines) + "\n"


def tables(folder):
  found = seed_rows(folder)
  study = Study(found, {(setup, arm): read_widths(folder, setup, arm)
                        for setup in SETUPS for arm in ARMS[setup]})
  bench = benchmarks(folder)
  out = {"seeds": "".join(
      f"- `{setup}_{arm}`: seeds {', '.join(map(str, sorted(runs)))}\n"
      for (setup, arm), runs in found.items()) or "(no rows yet)\n"}
  for setup in SETUPS:
    out[f"{setup}_accuracy"] = accuracy_table(study, setup)
    out[f"{setup}_selected"] = accuracy_table(
        study, setup, "test_accuracy_at_best_validation")
    out[f"{setup}_differences"] = difference_table(study, setup)
    out[f"{setup}_widths"] = widths_table(folder, setup)
    out[f"{setup}_collapsed"] = collapse_table(study, setup)
  for name, run in bench.items():
    out[f"speed_{name}"] = speed_table(run)
  repeat_runs = benchmarks(os.path.join(folder, "repeats"))  # lenet_<run>
  repeats = [repeat_runs[name] for name in sorted(
      repeat_runs, key=lambda name: int(name.rsplit("_", 1)[1]))]
  out["speed_repeats"] = repeats_table(repeats)
  profiles = benchmarks(folder, "session_profile_")
  for name, run in profiles.items():
    out[f"profile_{name}"] = (
        inference_tables.profile_caption(run["meta"], run["models"]) +
        "\n\n" + inference_tables.profile_table(run["models"]))
  return study, dict(bench, profiles=profiles, repeats=repeats), out


def main(argv):
  del argv
  if FLAGS.widths:
    print(json.dumps(workdir_widths(FLAGS.widths), indent=1))
    return 0
  absent = missing_rows(FLAGS.rows)
  if absent:
    print(f"channel_report: {FLAGS.doc} is made from rows that are missing "
          f"(no file matches {', '.join(absent)}); restore them from git "
          "before checking or regenerating the doc.", file=sys.stderr)
    return 1
  study, bench, found = tables(FLAGS.rows)
  with open(FLAGS.doc, encoding="utf-8") as stream:
    text = stream.read()
  new = kdticket_tf.results.update_marked_tables(text, found)
  return prose_claims.check_or_write(
      "channel_report", FLAGS.doc, text, new,
      lambda: (channel_claims.claims(study, bench) +
               channel_layerwise_claims.claims(study)), FLAGS.check,
      lambda: channel_claims.plot(study, FLAGS.rows, os.path.join(
          FLAGS.rows, "accuracy_vs_latency.png")),
      f"{FLAGS.doc}: {len(found)} tables; plot in {FLAGS.rows}")

if __name__ == "__main__":
  app.run(main)
