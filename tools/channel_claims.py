"""Study E's prose numbers (docs/channel_tickets.md), and its trade-off plot.

`claims(study, bench)` lists the fragments the doc's prose must hold, each
number rendered from the committed rows (`prose_claims`; the speed section's
from `channel_speed_claims`); `plot` draws test
accuracy against measured TFLite latency for the unstructured and 1x4 tickets
of study D and the channel tickets of study E (LeNet-300-100 on
Fashion-MNIST, the same training), each latency a ratio to the dense model of
its own benchmark run.
"""

import glob
import json
import os

import channel_speed_claims
import prose_claims

number, spread, mean = prose_claims.number, prose_claims.spread, prose_claims.mean
Claim = prose_claims.Claim
STUDY_D = os.path.join("docs", "structured_tickets")
LEVELS = (1, 2, 3)
TARGETS = (0.5, 0.75, 0.9)  # the weights pruned at each level


def _points(values):
  return [100 * v for v in values if v is not None]


KD_PAIRS = (("kd", "lt"), ("kd_rewind", "rewind"),
            ("kd_lr_rewind", "lr_rewind"), ("kd_finetune", "finetune"))


def _pairs_text(study, setup, level):
  return ", ".join(
      f"`{a} − {b}` {spread(_points(study.minus(setup, a, b, level)))}"
      for a, b in KD_PAIRS)


def conv_claims(study):
  """The verdicts on the filters setup."""
  setup = "conv"
  d = {lv: _points(study.minus(setup, "lt", "random_reinit", lv))
       for lv in LEVELS}
  kd75 = {a: _points(study.minus(setup, a, b, 2)) for a, b in KD_PAIRS}
  kd50 = {a: _points(study.minus(setup, a, b, 1)) for a, b in KD_PAIRS}
  best = max(("kd", "kd_rewind", "kd_lr_rewind", "kd_finetune"),
             key=lambda r: mean(_points(study.values(setup, "l1", r, 2))))
  gap = [x - y for x, y in zip(
      _points(study.values(setup, "l1", "dense", 0)),
      _points(study.values(setup, "l1", best, 2)))]
  seed1 = study.found[(setup, "l1")][1]
  theta0 = [100 * r["test_accuracy"] for r in seed1 if r["level"] == 3 and
            r["recipe"] in ("lt", "rewind", "kd", "kd_rewind")]
  refill = _points(study.values(setup, "refill", "lt", 3))
  l1 = _points(study.values(setup, "l1", "lt", 3))
  refill_all = (_points(study.values(setup, "refill", "lt", 3)) +
                _points(study.values(setup, "refill", "kd", 3)))
  return [
      Claim(f"`lt − random_reinit` is {spread(d[1])}, {spread(d[2])} and "
            f"{spread(d[3])} points at 50, 75 and 90%",
            all(prose_claims.within_spread(d[lv]) for lv in LEVELS)),
      Claim(f"at 75% every KD recipe ends above its baseline "
            f"({_pairs_text(study, setup, 2)})",
            all(mean(v) > 0 for v in kd75.values())),
      Claim(f"`kd − lt` above in {prose_claims.seeds_above(kd75['kd'])}",
            prose_claims.all_above(kd75["kd"])),
      Claim(f"at 50% the same differences are "
            f"{', '.join(spread(kd50[a]) for a, _ in KD_PAIRS)}",
            all(abs(mean(v)) < 1 for v in kd50.values())),
      Claim(f"at 90% {_pairs_text(study, setup, 3)}"),
      Claim(f"the best of them at 75%, `{best}` "
            f"({number(mean(_points(study.values(setup, 'l1', best, 2))))}%)"
            f", stays {prose_claims.below([-g for g in gap])} points below "
            "the dense network"),
      Claim("every recipe from θ0 or θk ends at chance "
            f"({number(min(theta0), 1)} to {number(max(theta0), 1)}%)",
            max(theta0) < 20),
      Claim(f"refill's `lt` ends at {spread(refill, signed=False)}% against "
            f"L1's {spread(l1, signed=False)}%",
            mean(refill) > mean(l1) and min(refill_all) >= 20),
      Claim("`lt: refill − L1` is " + " and ".join(
          spread(_points(study.minus(setup, "lt", "lt", lv, arm_a="refill")))
          for lv in (1, 2)) + " points at 50 and 75%",
            all(prose_claims.within_spread(_points(study.minus(
                setup, "lt", "lt", lv, arm_a="refill"))) for lv in (1, 2))),
  ]


def lenet_claims(study):
  """The verdicts on the units setup."""
  setup = "lenet"
  reinit = {lv: _points(study.minus(setup, "lt", "random_reinit", lv))
            for lv in LEVELS}
  dense = _points(study.values(setup, "l1", "dense", 0))
  cost = {lv: [d - x for d, x in zip(
      dense, _points(study.values(setup, "l1", "lt", lv)))] for lv in LEVELS}
  gains = {(a, lv): _points(study.minus(setup, a, b, lv))
           for a, b in KD_PAIRS for lv in LEVELS}
  largest = max(gains, key=lambda k: mean(gains[k]))
  share = {lv: mean([mean(gains[(a, lv)]) for a, _ in KD_PAIRS])
           for lv in LEVELS}
  finetune = {lv: [x - y for x, y in zip(
      _points(study.values(setup, "l1", "finetune", lv)),
      _points(study.values(setup, "l1", "lt", lv)))] for lv in LEVELS}
  refill = {r: [_points(study.minus(setup, r, r, lv, arm_a="refill"))
                for lv in LEVELS] for r in ("lt", "kd")}
  return [
      Claim(f"`lt − random_reinit` is {spread(reinit[1])}, "
            f"{spread(reinit[2])} and {spread(reinit[3])} points at 50, 75 "
            "and 90%",
            all(abs(mean(reinit[lv])) < 0.3 for lv in LEVELS)),
      Claim(f"`lt` ends {prose_claims.below([-c for c in cost[1]])}, "
            f"{prose_claims.below([-c for c in cost[2]])} and "
            f"{prose_claims.below([-c for c in cost[3]])} points below the "
            "dense network at 50, 75 and 90%",
            all(mean(cost[lv]) > 0 for lv in LEVELS)),
      Claim(f"the largest KD gain of any pair at any sparsity is "
            f"{spread(gains[largest])} points (`{largest[0]}` at "
            f"{100 * TARGETS[largest[1] - 1]:.0f}%)",
            mean(gains[largest]) < mean(cost[3])),
      Claim("averaged over the four pairs, KD gains "
            f"{number(share[1], signed=True)}, {number(share[2], signed=True)}"
            f" and {number(share[3], signed=True)} points at 50, 75 and 90%",
            share[3] <= share[1] + 0.1),
      Claim(f"`finetune` ends {prose_claims.below(finetune[3])} points below "
            "`lt` at 90%", mean(finetune[3]) < 0),
      Claim("`lt: refill − L1` is " + ", ".join(
          spread(v) for v in refill["lt"]) + " and `kd: refill − L1` " +
            ", ".join(spread(v) for v in refill["kd"]),
            all(abs(mean(v)) < 0.2 for r in refill for v in refill[r])),
  ]


def claims(study, bench):
  """The prose's numbers, from the rows."""
  return (channel_speed_claims.claims(bench) + conv_claims(study) +
          lenet_claims(study))


def _study_d_points(recipe):
  """`{structure: [(ratio, mean accuracy)]}` of study D's tickets."""
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
