"""The numbers the prose of docs/structured_tickets.md states, from its rows.

`claims(found, bench)` renders each prose fragment of study D that states a
number from the committed rows (`structured_report.seed_rows`) and benchmark
(`benchmark.json`), as `tools/structured_report.py` renders the tables;
`structured_report.py --check` fails when the doc no longer holds one of them
(`prose_claims.unmet`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prose_claims  # pylint: disable=g-import-not-at-top,wrong-import-position

Claim = prose_claims.Claim
number, spread, below, mean = (prose_claims.number, prose_claims.spread,
                               prose_claims.below, prose_claims.mean)
RECIPES = ("lt", "rewind", "kd", "kd_rewind")


class Arms:
  """Test accuracies of the arms, per seed, and paired differences in points."""

  def __init__(self, found):
    self.found = found
    self.seeds = sorted(set(found["unstructured"]) & set(found["1x4"]))

  def accuracy(self, arm, recipe, sparsity, seeds=None):
    """Per seed (`seeds`, default every seed of the arm), in %."""
    runs = self.found[arm]
    values = []
    for seed in seeds if seeds is not None else sorted(runs):
      values += [100 * r["test_accuracy"] for r in runs[seed]
                 if r["recipe"] == recipe and abs(r["sparsity"] - sparsity)
                 < 5e-4]
    return values

  def minus(self, first, second):
    """`first - second` per paired seed; each is `(arm, recipe, sparsity)`."""
    return [a - b for a, b in zip(self.accuracy(*first, seeds=self.seeds),
                                  self.accuracy(*second, seeds=self.seeds))]

  def cost(self, recipe, sparsity):
    """1x4 minus unstructured, per seed."""
    return self.minus(("1x4", recipe, sparsity),
                      ("unstructured", recipe, sparsity))


def findings_claims(arms):
  """"Findings": what the structure costs, and whether KD pays it back."""
  found = arms.found
  trainings = sum(1 for runs in found.values() for rows in runs.values()
                  for r in rows if r["level"]) + len(found["1x4"])
  upto_90 = {(r, s): arms.cost(r, s) for r in RECIPES for s in (0.8, 0.9)}
  outside = [k for k, v in upto_90.items()
             if not prose_claims.within_spread(v)]
  at_98 = {r: arms.cost(r, 0.98) for r in RECIPES}
  gain = {s: arms.minus(("1x4", "kd", s), ("1x4", "lt", s))
          for s in (0.95, 0.98)}
  plain_gain = {s: arms.minus(("unstructured", "kd", s),
                              ("unstructured", "lt", s)) for s in (0.95, 0.98)}
  rewind_gain = {s: arms.minus(("1x4", "kd_rewind", s), ("1x4", "rewind", s))
                 for s in (0.95, 0.98)}

  def mixed(values):
    return not (prose_claims.all_below(values) or
                prose_claims.all_above(values))

  return [
      Claim(f"{trainings} trainings"),
      Claim("1x4 minus unstructured, paired, for `lt`: "
            f"{spread(arms.cost('lt', 0.8))} points at 80%, "
            f"{spread(arms.cost('lt', 0.9))} at 90%, "
            f"{spread(arms.cost('lt', 0.95))} at 95% and "
            f"{spread(arms.cost('lt', 0.98))} at 98%"),
      Claim("Up to 90% the differences lie between "
            f"{number(min(map(mean, upto_90.values())), 2, True)} and "
            f"{number(max(map(mean, upto_90.values())), 2, True)} points, and "
            "all but one are within their spread: `rewind` at 80%, "
            f"{spread(upto_90[('rewind', 0.8)])}, is above unstructured in "
            "every seed",
            outside == [("rewind", 0.8)] and
            prose_claims.all_above(upto_90[("rewind", 0.8)])),
      Claim("At 95% the structure costs `lt` and `kd` about 0.45 points in "
            f"every seed ({prose_claims.listed(arms.cost('lt', 0.95), 2)} for "
            "`lt`); the rewinding recipes are not ordered there (`rewind` "
            f"{prose_claims.listed(arms.cost('rewind', 0.95), 2)})",
            all(prose_claims.all_below(arms.cost(r, 0.95)) and
                0.4 <= -mean(arms.cost(r, 0.95)) <= 0.5 for r in ("lt", "kd"))
            and mixed(arms.cost("rewind", 0.95)) and
            mixed(arms.cost("kd_rewind", 0.95))),
      Claim("At 98% every recipe pays "
            f"{number(-max(map(mean, at_98.values())))} to "
            f"{number(-min(map(mean, at_98.values())))} points (" + ", ".join(
                f"`{r}` {spread(at_98[r])}" for r in RECIPES) +
            "), negative in every seed for every recipe",
            all(map(prose_claims.all_below, at_98.values()))),
      Claim(f"Under 1x4 the KD ticket gains over `lt` {spread(gain[0.95])} "
            f"points at 95% and {spread(gain[0.98])} at 98% (positive in all "
            "three seeds at 98%: "
            f"{prose_claims.listed(gain[0.98], 2)}), about what it gains "
            f"without the structure ({spread(plain_gain[0.95])} and "
            f"{spread(plain_gain[0.98])})",
            prose_claims.all_above(gain[0.98])),
      Claim("The KD 1x4 ticket stays " +
            below(arms.minus(("1x4", "kd", 0.95), ("unstructured", "lt", 0.95)))
            + " points below the unstructured `lt` ticket at 95% and " +
            below(arms.minus(("1x4", "kd", 0.98), ("unstructured", "lt", 0.98)))
            + " below at 98%"),
      Claim(f"`kd_rewind` gains over `rewind` under 1x4 "
            f"{spread(rewind_gain[0.95])} and {spread(rewind_gain[0.98])} (95, "
            "98%), and the KD 1x4 ticket ends " +
            below(arms.minus(("1x4", "kd_rewind", 0.98),
                             ("unstructured", "rewind", 0.98))) +
            " points below the unstructured `rewind` ticket at 98%"),
  ]


def two_of_four_claims(arms):
  """2:4 at its 50%."""
  runs = arms.found["2of4"]
  seeds = sorted(runs)
  dense = arms.accuracy("2of4", "dense", 0.0)
  paired = {r: [a - d for a, d in zip(
      arms.accuracy("2of4", r, 0.5, seeds), dense)] for r in RECIPES}
  return [
      Claim("(" + ", ".join(
          f"{spread(arms.accuracy('2of4', r, 0.5), signed=False)} `{r}`"
          for r in RECIPES) +
            f" against the dense {spread(dense, signed=False)}; every paired "
            "difference within 0.05 points)",
            all(abs(mean(v)) <= 0.05 for v in paired.values())),
  ]


def latency_claims(bench):
  """Where the speed is: the benchmark's ratios and latencies."""
  models = {m["name"]: m for m in bench["models"]}

  def of(arm, level, field="latency", timing="tflite_b1_t1"):
    name = "1x4/seed_0:dense/0" if level == 0 else f"{arm}/seed_0:lt/{level}"
    return models[name][field][timing]

  def ratio(arm, level, field="latency", timing="tflite_b1_t1"):
    return number(of(arm, level, field, timing)["ratio_to_dense"])

  def micro(arm, level, timing="tflite_b1_t1"):
    return number(1e6 * of(arm, level, timing=timing)["seconds"], 1)

  def storage(arm, level):
    return models[f"{arm}/seed_0:lt/{level}"]["storage"]

  levels = (1, 2, 3, 4)
  meta = bench["meta"]
  full = [of("1x4", level, "full_speed_latency")["ratio_to_dense"]
          for level in levels]
  overall = [of("1x4", level)["ratio_to_dense"] for level in levels]

  def ratios(values):
    return prose_claims.each(values, 2, False)

  return [
      Claim("it buys nothing on TFLite's CPU kernels either: the converter "
            "stores the 2:4 weights sparse and densifies them at run time "
            f"({ratio('2of4', 1)}x the dense latency)",
            "densified" in storage("2of4", 1)),
      Claim("the 1x4 tickets ran at " +
            ratios([of("1x4", l)["ratio_to_dense"] for l in levels]) +
            " of the dense latency (80 to 98%, the median over "
            f"{meta['rounds']} interleaved rounds), every prunable weight "
            "stored block-sparse",
            all(storage("1x4", l) == ["block-sparse", "dense"]
                for l in levels)),
      Claim(f"the unstructured tickets at {ratio('unstructured', 1)} at 80 and "
            "90% (stored sparse, densified at run time: no gain), "
            f"{ratio('unstructured', 3)} at 95% and "
            f"{ratio('unstructured', 4)} at 98%, where the converter found "
            "enough empty 1x4 blocks to store one hidden layer (95%) or both "
            "(98%) block-sparse too",
            ratio("unstructured", 1) == ratio("unstructured", 2) and
            "block-sparse" not in storage("unstructured", 2) and
            set(storage("unstructured", 3)) == {"block-sparse", "dense",
                                                "densified"} and
            storage("unstructured", 4) == ["block-sparse", "dense"]),
      Claim(f"the 1x4 ticket at 90% ({micro('1x4', 2)} µs) is at about half "
            "the latency of the unstructured 90% ticket "
            f"({micro('unstructured', 2)} µs), and faster than the "
            f"unstructured 95% one ({micro('unstructured', 3)} µs)"),
      Claim("At batch 32 the sparse kernel gains less "
            f"({ratio('1x4', 2, timing='tflite_b32_t1')} of dense at 90%, "
            f"{ratio('1x4', 4, timing='tflite_b32_t1')} at 98%, one thread)"),
      Claim("A second thread speeds the dense model up "
            f"({micro('dense', 0)} to {micro('dense', 0, 'tflite_b1_t2')} µs "
            "at batch 1) and not the sparse kernel (the 1x4 ticket at 90%: "
            f"{micro('1x4', 2)} and {micro('1x4', 2, 'tflite_b1_t2')} µs), so "
            "the ratio to dense rises (at 90% from "
            f"{ratio('1x4', 2)} to {ratio('1x4', 2, timing='tflite_b1_t2')}) "
            "and the 80% ticket becomes slower than dense "
            f"({ratio('1x4', 1, timing='tflite_b1_t2')})",
            of("1x4", 1, timing="tflite_b1_t2")["ratio_to_dense"] > 1),
      Claim("This machine's CPU runs most of the time at about half its full "
            "speed",
            1.6 <= meta["cpu_speed"]["median_probe_over_fastest"] <= 2.4),
      Claim(f"there the 1x4 tickets ran at {ratios(full)} of the dense "
            "latency"),
      Claim("are met at full CPU speed "
            f"({number(full[1])}x, {number(full[3])}x) and missed over all "
            f"timings ({number(overall[1])}x, {number(overall[3])}x)",
            full[1] <= 0.35 and full[3] <= 0.15 and
            (overall[1] > 0.35 or overall[3] > 0.15)),
      Claim("the median of per-round ratios over "
            f"{meta['rounds']} interleaved rounds"),
      Claim("(the timings taken while the CPU ran within "
            f"{meta['cpu_speed']['tolerance']:g}x of its fastest"),
  ]


def claims(found, bench):
  """Every numeric claim of the doc's prose, rendered from rows and benchmark.

  Args:
    found: `{arm: {seed: rows}}` (`structured_report.seed_rows`).
    bench: The committed benchmark (`structured_report.benchmark`).

  Returns:
    `prose_claims.Claim`s.
  """
  arms = Arms(found)
  return (findings_claims(arms) + two_of_four_claims(arms) +
          latency_claims(bench))
