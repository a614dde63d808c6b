"""The numbers the prose of docs/kd_ticket_study.md states, from its rows.

`claims(folder)` renders each prose fragment that states a number from the
committed rows under docs/kd_ticket_study/ (and docs/instability_screen/),
as `tools/study_report.py` renders the tables; `study_report.py --check`
fails when the doc no longer holds one of them (`prose_claims.unmet`).
Wall times are not rows and are not checked.
"""

import glob
import os
import re
import sys

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instability_claims  # pylint: disable=wrong-import-position
import prose_claims  # pylint: disable=g-import-not-at-top,wrong-import-position

Claim = prose_claims.Claim
number, spread, below, each = (prose_claims.number, prose_claims.spread,
                               prose_claims.below, prose_claims.each)
mean, std = prose_claims.mean, prose_claims.std

# Study A's levels: one-shot to 80, 90, 95, 98, 99 and 99.5% pruned.
A_LEVELS = {"80": 1, "90": 2, "95": 3, "98": 4, "99": 5, "99.5": 6}


class Runs:
  """The seeds of one study (their rows); per-seed figures in % or points."""

  def __init__(self, runs):
    self.runs = runs

  def accuracy(self, recipe, level, column="test_accuracy"):
    """Per seed, in %."""
    return [100 * row[column] for rows in self.runs for row in rows
            if row["recipe"] == recipe and row["level"] == level]

  def minus(self, recipe, baseline, level):
    """`recipe - baseline` per seed, in points (paired by seed)."""
    return [a - b for a, b in zip(self.accuracy(recipe, level),
                                  self.accuracy(baseline, level))]

  def recipes(self):
    return kdticket_tf.results.recipe_order(self.runs)


def _read(pattern):
  return [kdticket_tf.results.read(p) for p in sorted(glob.glob(pattern))]


def summary_claims(folder, a, c, confirm):
  """The page's opening summary."""
  lv = A_LEVELS
  kd_rewind = [a.minus("kd", "rewind", lv[s]) for s in ("80", "90", "95", "98",
                                                        "99")]
  boost = [a.minus("kd_rewind", "rewind", lv[s]) for s in ("98", "99", "99.5")]
  lt_rewind = [a.minus("lt", "rewind", lv[s]) for s in ("80", "90", "95", "98",
                                                        "99")]
  search = [d for _, _, d in _search_rows(folder)]
  screen = instability_claims.screen_rows(folder)
  confirm_rows = instability_claims.instability_rows(folder, "study_c_confirm")
  starts = [r["barrier"] for rows in confirm_rows
            for r in rows if r["start_step"] == 0]
  kd_c = [mean(c.minus("kd", "rewind", level)) for level in (1, 2)]
  kd_lt_c = [c.minus("kd", "lt", level) for level in (1, 2)]
  return [
      Claim("KD tickets are as accurate as weight rewinding (within the seed "
            "spread) from 80 to 99% pruned, and "
            f"{number(-mean(a.minus('kd', 'rewind', lv['99.5'])), 1)} points "
            "below it at 99.5%",
            all(map(prose_claims.within_spread, kd_rewind))),
      Claim("adding KD to rewinding gives a small gain, 0.1 to 0.2 points, at "
            "98 to 99.5% pruned, the same sign in every seed",
            all(prose_claims.all_above(d) and 0.1 <= mean(d) <= 0.2
                for d in boost)),
      Claim("resetting to θ0 (`lt`) is as good as rewinding down to 1% of the "
            "weights", all(map(prose_claims.within_spread, lt_rewind))),
      Claim("resetting to θ0 stayed within a point of rewinding",
            all(abs(d) < 1 for d in search)),
      Claim(f"in a screen of {len(screen)} MNIST-1D setups"),
      Claim(f"unstable at k = 0 (barrier {number(min(starts), 1)} to "
            f"{number(max(starts), 1)} points over three seeds) and stable "
            "from 2 epochs (80 iterations) on",
            all(r["stable"] == (r["start_step"] >= 80)
                for rows in confirm_rows for r in rows)),
      Claim("one-shot tickets at 80% pruned reset to θ0 end "
            f"{below(confirm.minus('lt', 'rewind', 1), 1)} points below "
            "rewinding to the step `--rewind_step=auto` chose (below it in "
            f"{prose_claims.seeds_below(confirm.minus('lt', 'rewind', 1))})"),
      Claim(f"the gap is smaller: {spread(c.minus('lt', 'rewind', 1), 1)} at "
            "80%, within its spread, and "
            f"{spread(c.minus('lt', 'rewind', 2), 1)} at 90%, below in every "
            "seed",
            prose_claims.within_spread(c.minus("lt", "rewind", 1)) and
            prose_claims.all_below(c.minus("lt", "rewind", 2))),
      Claim(f"KD tickets end {number(-kd_c[0], 1)} to {number(-kd_c[1], 1)} "
            "points below rewinding, and "
            f"{number(-max(map(mean, kd_lt_c)), 1)} to "
            f"{number(-min(map(mean, kd_lt_c)), 1)} points below `lt`, in "
            "every seed",
            all(prose_claims.all_below(c.minus("kd", "rewind", level))
                for level in (1, 2)) and
            all(map(prose_claims.all_below, kd_lt_c))),
  ]


def study_a_claims(folder, a):
  """Study A: the teacher, the KD sweep, what the tables show."""
  lv = A_LEVELS
  dense = a.accuracy("dense", 0)
  crosscheck = [instability_claims.read_json(p) for p in sorted(glob.glob(
      os.path.join(folder, "study_a", "crosscheck_seed_*.json")))]
  teacher_train = [100 * f["teacher_train_accuracy"] for f in crosscheck]
  teachers = {os.path.basename(p)[:-5]: kdticket_tf.results.read(p)[0]
              for p in glob.glob(os.path.join(folder, "study_a", "teacher",
                                              "*.json"))}
  sweep = {}
  for path in glob.glob(os.path.join(folder, "study_a", "kd_sweep", "*.json")):
    alpha, temperature = re.match(r"alpha_(.+)_t_(.+)\.json",
                                  os.path.basename(path)).groups()
    sweep[(float(alpha), float(temperature))] = [
        100 * r["validation_accuracy"] for r in kdticket_tf.results.read(path)
        if r["recipe"] == "kd"]  # 95 and 99% pruned
  best = max(sweep, key=lambda k: mean(sweep[k]))
  loss_at_99 = max((sweep[(alpha, 1.0)][1] - sweep[(alpha, t)][1], t)
                   for alpha, t in sweep if t > 2)
  shared = [r for r in a.recipes() if r != "random_reinit"]
  reinit = {s: a.minus("random_reinit", "lt", lv[s])
            for s in ("80", "90", "95", "98", "99", "99.5")}
  reinit_90_99 = [mean(reinit[s]) for s in ("90", "95", "98", "99")]
  below_995 = {r: a.minus(r, "rewind", lv["99.5"]) for r in ("lt", "kd")}
  weakest = [
      sorted(a.recipes(), key=lambda r, s=s: mean(a.accuracy(r, lv[s])))[:2]
      for s in ("80", "90", "95")]
  return [
      Claim(f"It reaches {spread(dense, 2, signed=False)}% test accuracy over "
            f"the three seeds, and {number(min(teacher_train), 1)} to "
            f"{number(max(teacher_train), 1)}% on its own training set"),
      Claim("the training schedule of the whole study is the best of them, "
            "cosine decay over 20 epochs",
            max(teachers, key=lambda k: teachers[k]["validation_accuracy"])
            == "cosine_20ep"),
      Claim(f"α = {best[0]:g}, T = {best[1]:g} has the best mean and is what "
            "the study uses; T = 2 is within "
            f"{number(mean(sweep[best]) - mean(sweep[(best[0], 2.0)]))} "
            "points of it, and higher temperatures lose up to "
            f"{number(loss_at_99[0], 1)} points at 99% (T = "
            f"{loss_at_99[1]:g} against T = 1)"),
      Claim("stays within about half a point of the others down to 1% of the "
            "weights",
            all(max(mean(a.accuracy(r, level)) for r in shared) -
                min(mean(a.accuracy(r, level)) for r in shared) < 0.55
                for level in range(1, 6))),
      Claim("(`lt - rewind` is within its spread from 80 to 99% pruned)",
            all(prose_claims.within_spread(a.minus("lt", "rewind", lv[s]))
                for s in ("80", "90", "95", "98", "99"))),
      Claim("Only the random re-initialisation falls behind: "
            f"{number(-max(reinit_90_99), 1)} to "
            f"{number(-min(reinit_90_99), 1)}"
            " points below `lt` from 90 to 99% pruned (mean over seeds), below "
            "it in every seed from 90 to 98%",
            all(prose_claims.all_below(reinit[s]) for s in ("90", "95", "98"))
            and not prose_claims.all_below(reinit["99"])),
      Claim("At 99.5% it is not: "
            f"{number(mean(a.accuracy('random_reinit', lv['99.5'])))}% against "
            f"`lt`'s {number(mean(a.accuracy('lt', lv['99.5'])))}%, "
            f"{spread(reinit['99.5'])} points, above `lt` in "
            f"{prose_claims.seeds_above(reinit['99.5'])}",
            mean(reinit["99.5"]) > 0),
      Claim(f"`lt` is {below(below_995['lt'])} points below `rewind` (below "
            f"it in {prose_claims.seeds_below(below_995['lt'])})"),
      Claim(f"`kd` is {below(below_995['kd'])} below `rewind` (below it in "
            f"{prose_claims.seeds_below(below_995['kd'])})"),
      Claim("`kd_rewind` is above `rewind` in all three seeds at 98, 99 and "
            "99.5% (" + ", ".join(
                number(mean(a.minus("kd_rewind", "rewind", lv[s])), signed=True)
                for s in ("98", "99", "99.5")) + " points)",
            all(prose_claims.all_above(a.minus("kd_rewind", "rewind", lv[s]))
                for s in ("98", "99", "99.5"))),
      Claim("`kd_lr_rewind` above `lr_rewind` in all three seeds at 80, 90 and "
            "95% (" + ", ".join(
                number(mean(a.minus("kd_lr_rewind", "lr_rewind", lv[s])),
                       signed=True) for s in ("80", "90", "95")) +
            " points), where LR rewinding alone is the weakest recipe but the "
            "random re-initialisation",
            all(prose_claims.all_above(a.minus("kd_lr_rewind", "lr_rewind",
                                               lv[s]))
                for s in ("80", "90", "95")) and
            all(set(w) == {"lr_rewind", "random_reinit"} for w in weakest)),
  ]


def _search_rows(folder):
  """`(setup, sparsity in %, lt - rewind in points)` of study B's search."""
  found = []
  for path in sorted(glob.glob(os.path.join(folder, "study_b", "search",
                                            "*.json"))):
    rows = kdticket_tf.results.read(path)
    for level in sorted({r["level"] for r in rows if r["level"]}):
      cells = {r["recipe"]: r for r in rows if r["level"] == level}
      if "lt" in cells and "rewind" in cells:
        found.append((os.path.basename(path)[:-5],
                      100 * cells["lt"]["sparsity"],
                      100 * (cells["lt"]["test_accuracy"] -
                             cells["rewind"]["test_accuracy"])))
  return found


def study_b_claims(folder):
  """Study B: the regime search, setup by setup."""
  found = _search_rows(folder)
  rows = {}
  for path in glob.glob(os.path.join(folder, "study_b", "search", "*.json")):
    rows[os.path.basename(path)[:-5]] = kdticket_tf.results.read(path)

  def differences(setup):
    return [d for name, _, d in found if name == setup]

  def accuracy(setup, recipe, sparsity):
    return next(100 * r["test_accuracy"] for r in rows[setup]
                if r["recipe"] == recipe and
                abs(r["sparsity"] - sparsity) < 1e-3)

  def dense(setup):
    return 100 * rows[setup][0]["test_accuracy"]

  lenet = differences("lenet300_sgd_lr0.1_cosine20ep")
  at_98 = [differences("resnet20_w8_sgd_lr0.1_98_99_seed0")[0],
           differences("resnet20_w8_sgd_lr0.1_98_seed1")[0]]
  b98, b99, s1 = ("resnet20_w8_sgd_lr0.1_98_99_seed0",) * 2 + (
      "resnet20_w8_sgd_lr0.1_98_seed1",)

  def signed_list(setup):
    return each(differences(setup), 2)

  return [
      Claim("In every candidate `lt` stays within 0.3 points of `rewind` from "
            "80 to 95% pruned, or above it",
            all(d >= -0.3 for _, s, d in found if 80 - 1e-6 <= s <= 95 + 1e-6)),
      Claim("beyond that, in the ResNet, the difference moves by up to a point "
            "either way",
            all(abs(d) <= 1 for name, s, d in found
                if name.startswith("resnet") and s > 95 + 1e-6)),
      Claim(f"`lt - rewind` between {number(min(lenet), 2, True)} and "
            f"{number(max(lenet), 2, True)}"),
      Claim(f"`lt - rewind` {signed_list('resnet20_w8_sgd_lr0.1_seed0')} at "
            "80, 90 and 95% pruned"),
      Claim(f"(same dense run, bit for bit: {number(dense(b98))}%)",
            dense(b98) == dense("resnet20_w8_sgd_lr0.1_seed0")),
      Claim(f"{number(at_98[0], 2, True)} at 98% (lt "
            f"{number(accuracy(b98, 'lt', 0.98))}%, rewind "
            f"{number(accuracy(b98, 'rewind', 0.98))}%), "
            f"{number(differences(b99)[1], 2, True)} at 99% "
            f"({number(accuracy(b99, 'lt', 0.99))}%, "
            f"{number(accuracy(b99, 'rewind', 0.99))}%)"),
      Claim(f"A second seed at 98% gives {number(at_98[1], 2, True)} (lt "
            f"{number(accuracy(s1, 'lt', 0.98))}%, rewind "
            f"{number(accuracy(s1, 'rewind', 0.98))}%): over the two seeds, "
            f"{spread(at_98)} points"),
      Claim("the dense network loses a point "
            f"({number(dense('resnet20_w8_sgd_lr0.3_seed0'))}%)",
            0.5 <= dense(b98) - dense("resnet20_w8_sgd_lr0.3_seed0") < 1.5),
      Claim("`lt` ends *above* `rewind` at every sparsity: "
            f"{signed_list('resnet20_w8_sgd_lr0.3_seed0')} points at 80, 90 "
            "and 95% pruned",
            all(d > 0 for d in differences("resnet20_w8_sgd_lr0.3_seed0"))),
      Claim(f"`lt - rewind` {signed_list('resnet20_w8_sgd_lr0.1_imp50_seed0')}"
            " at 50, 75 and 87.5% pruned"),
  ]


def crosscheck_claims(folder, a):
  """The cross-check of the kd recipe by a minimal loop."""
  found = [instability_claims.read_json(p) for p in sorted(glob.glob(
      os.path.join(folder, "study_a", "crosscheck_seed_*.json")))]
  gaps = [100 * (f["loop_test_accuracy"] - f["recipe_test_accuracy"])
          for f in found]
  level = found[0]["level"]
  tests = [100 * f["teacher_test_accuracy"] for f in found]
  trains = [100 * f["teacher_train_accuracy"] for f in found]
  return [
      Claim(f"The loop lands within {number(max(map(abs, gaps)))} points of "
            f"the recipe in every seed (mean {number(mean(gaps), 2, True)}), "
            "inside the recipe's own seed spread at this level "
            f"({number(std(a.accuracy('kd', level)))})",
            max(map(abs, gaps)) < std(a.accuracy("kd", level))),
      Claim(f"Each teacher is at {number(min(trains), 1)}-"
            f"{number(max(trains), 1)}% on its training set and "
            f"{number(min(tests), 1)}-{number(max(tests), 1)}% on the test "
            "set"),
  ]


def verdict_claims(a, c):
  """"The paper's claims, one by one"."""
  lv = A_LEVELS
  upto_99 = ("80", "90", "95", "98", "99")
  kd_rewind = [a.minus("kd", "rewind", lv[s]) for s in upto_99]
  boost = [a.minus("kd_rewind", "rewind", lv[s]) for s in ("98", "99", "99.5")]
  no_boost = [a.minus("kd_rewind", "rewind", lv[s]) for s in ("80", "90", "95")]
  lr = [a.minus("kd_lr_rewind", "lr_rewind", lv[s]) for s in upto_99]
  at_995 = {r: mean(a.accuracy(r, lv["99.5"]))
            for r in ("kd_lr_rewind", "lr_rewind", "kd_rewind")}
  kd_lt = a.minus("kd", "lt", lv["99.5"])
  lt_rewind = a.minus("lt", "rewind", lv["99.5"])
  c_lt = [c.minus("lt", "rewind", level) for level in (1, 2)]
  return [
      Claim("`kd - rewind` is between "
            f"{number(min(map(mean, kd_rewind)), 2, True)} and "
            f"{number(max(map(mean, kd_rewind)), 2, True)} points at each "
            "of these five sparsities, every time smaller than its seed spread "
            f"({number(min(map(std, kd_rewind)))} to "
            f"{number(max(map(std, kd_rewind)))})",
            all(map(prose_claims.within_spread, kd_rewind))),
      Claim(f"`kd` ends {below(a.minus('kd', 'rewind', lv['99.5']))} points "
            "below `rewind`, below it in "
            f"{prose_claims.seeds_below(a.minus('kd', 'rewind', lv['99.5']))}."
            " At this sparsity resetting to θ0 costs "
            f"{below(lt_rewind)} points against rewinding, and the soft "
            "labels win back about a quarter "
            f"of it (`kd - lt` = {spread(kd_lt)})",
            0.2 <= mean(kd_lt) / -mean(lt_rewind) <= 0.3),
      Claim(f"`kd - rewind` is {spread(c.minus('kd', 'rewind', 1))} points at "
            f"80% pruned and {spread(c.minus('kd', 'rewind', 2))} at 90%, "
            "below in every seed; `kd` is below `lt` as well, in every seed",
            all(prose_claims.all_below(c.minus(r, b, level))
                for r, b in (("kd", "rewind"), ("kd", "lt"))
                for level in (1, 2))),
      Claim(f"(`lt - rewind` {spread(c_lt[0])} at 80%, {spread(c_lt[1])} at "
            f"90%, below in {sum(d < 0 for d in c_lt[0])} and "
            f"{sum(d < 0 for d in c_lt[1])} of the 3 seeds)"),
      Claim("`kd_rewind - rewind` is " + ", ".join(
          spread(d) for d in boost[:2]) + f" and {spread(boost[2])} points, "
            "positive in all three seeds at each of these sparsities",
            all(map(prose_claims.all_above, boost))),
      Claim("`kd_rewind - rewind` is between "
            f"{number(min(map(mean, no_boost)), 2, True)} and "
            f"{number(max(map(mean, no_boost)), 2, True)}, within its spread",
            all(map(prose_claims.within_spread, no_boost))),
      Claim("`kd_lr_rewind - lr_rewind` is " + ", ".join(
          spread(d) for d in lr[:2]) + f" and {spread(lr[2])} points at 80, 90 "
            "and 95% pruned (positive in every seed), and within its spread "
            "from 98% on",
            all(map(prose_claims.all_above, lr[:3])) and
            all(map(prose_claims.within_spread, lr[3:] + [
                a.minus("kd_lr_rewind", "lr_rewind", lv["99.5"])]))),
      Claim("at 99.5% pruned `kd_lr_rewind` "
            f"({number(at_995['kd_lr_rewind'])}) and `lr_rewind` "
            f"({number(at_995['lr_rewind'])}) are above `kd_rewind` "
            f"({number(at_995['kd_rewind'])}), all within one standard "
            "deviation of each other",
            at_995["kd_rewind"] < min(at_995["kd_lr_rewind"],
                                      at_995["lr_rewind"]) and
            max(at_995.values()) - min(at_995.values()) < min(
                std(a.accuracy(r, lv["99.5"])) for r in at_995)),
      Claim("`kd_rewind - rewind` is "
            f"{spread(c.minus('kd_rewind', 'rewind', 1))} at 80% pruned and "
            f"{spread(c.minus('kd_rewind', 'rewind', 2))} at 90%, both "
            "within their spread; `kd_lr_rewind - lr_rewind` "
            f"{spread(c.minus('kd_lr_rewind', 'lr_rewind', 1))} and "
            f"{spread(c.minus('kd_lr_rewind', 'lr_rewind', 2))}, within their "
            "spread too",
            all(prose_claims.within_spread(c.minus(r, b, level))
                for r, b in (("kd_rewind", "rewind"),
                             ("kd_lr_rewind", "lr_rewind"))
                for level in (1, 2))),
  ]


def claims(folder, studies):
  """Every numeric claim of the doc's prose, rendered from the rows.

  Args:
    folder: The committed rows (docs/kd_ticket_study).
    studies: `{study: [rows of each seed]}` (`study_report.seed_runs`).

  Returns:
    `prose_claims.Claim`s.
  """
  a, c, confirm = (Runs(studies[s]) for s in ("study_a", "study_c",
                                               "study_c_confirm"))
  return (summary_claims(folder, a, c, confirm) + study_a_claims(folder, a) +
          study_b_claims(folder) + instability_claims.screen_claims(folder) +
          instability_claims.study_c_claims(folder, c, confirm) +
          crosscheck_claims(folder, a) + verdict_claims(a, c))
