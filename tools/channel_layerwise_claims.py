"""Study E's layer-wise arm: the numbers its verdict states.

In docs/channel_tickets.md, the filters setup's third arm, `conv_layerwise`,
runs every recipe with `--prune_scope=layerwise`: each convolution loses the
same fraction of its filters, where the L1 arm ranks all filters together. It
trains its own dense run, which `--deterministic` makes the L1 arm's; the
first claim checks that the two arms' dense accuracies agree seed by seed, so
that `layerwise − L1` is paired by seed and level. `claims(study)` lists the
verdict's fragments, each number rendered from the committed rows
(`prose_claims`), for `channel_report.py --check`.
"""

import channel_claims
import prose_claims

Claim, mean, spread = prose_claims.Claim, prose_claims.mean, prose_claims.spread
number, each = prose_claims.number, prose_claims.each
LEVELS, KD_PAIRS = channel_claims.LEVELS, channel_claims.KD_PAIRS
SETUP, ARM = "conv", "layerwise"
CONVOLUTIONS = ("conv1", "conv2", "conv3")
_SEEDS = {1: "one seed", 2: "two seeds"}


def _points(values):
  return [100 * v for v in values if v is not None]


def _recipes(study):
  """The recipes the arm ran, in its rows' order (dense left out)."""
  rows = next(iter(study.found[(SETUP, ARM)].values()))
  return [r for r in dict.fromkeys(row["recipe"] for row in rows)
          if r != "dense"]


def _names(recipes):
  """`a`, `b` and `c`."""
  names = [f"`{r}`" for r in recipes]
  return (", ".join(names[:-1]) + " and " if len(names) > 1 else "") + (
      names[-1])


def _lt_field(study, arm, name):
  """`lt`'s `name` (a fraction), mean over seeds, in % at 50, 75 and 90%."""
  return each([mean(_points(study.values(SETUP, arm, "lt", lv, name)))
               for lv in LEVELS], digits=2, signed=False)


def _smaller(study, name):
  """Whether the layer-wise arm's `lt` has less of `name` at every level."""
  return all(mean(study.values(SETUP, ARM, "lt", lv, name)) <
             mean(study.values(SETUP, "l1", "lt", lv, name)) for lv in LEVELS)


def _kd_share(study, arm, level):
  """KD's gain averaged over the four pairs, per seed, in points."""
  gains = [_points(study.minus(SETUP, a, b, level, arm, arm))
           for a, b in KD_PAIRS]
  return [mean(seed) for seed in zip(*gains)]


def _structure_claims(study):
  """The widths, the dense pairing, the collapse and the cost in compute."""
  seeds = study.seeds(SETUP, ARM)
  dense = {a: _points(study.values(SETUP, a, "dense", 0))
           for a in ("l1", ARM)}
  widths = {a: study.widths[(SETUP, a)] for a in ("l1", ARM)}
  kept = {lv: sorted({w[str(lv)][layer][1] for w in widths[ARM].values()
                      for layer in CONVOLUTIONS}) for lv in LEVELS}
  l1_kept = [w["3"][layer][1] for w in widths["l1"].values()
             for layer in CONVOLUTIONS[1:]]
  runs = {(a, lv): [(r, seed, v) for r in _recipes(study) for seed, v in zip(
      study.seeds(SETUP, a), _points(study.values(SETUP, a, r, lv)))]
          for a in ("l1", ARM) for lv in LEVELS}
  lowest = min(runs[(ARM, 3)], key=lambda run: run[2])
  seed1 = [_points(study.values(SETUP, ARM, r, 3))[seeds.index(1)]
           for r in ("lt", "rewind", "kd", "kd_rewind")]
  return [
      Claim("each seed's dense network ends at the same test accuracy in "
            f"both arms ({each(dense[ARM], 2, signed=False)}%)",
            dense[ARM] == dense["l1"] and seeds == study.seeds(SETUP, "l1")),
      Claim(f"It keeps {kept[3][0]} of the 25 filters of every convolution "
            f"at 90% ({kept[1][0]} at 50%, {kept[2][0]} at 75%), where global "
            "L1 keeps all of conv1's and leaves conv2 and conv3 "
            f"{min(l1_kept)} to {max(l1_kept)}",
            all(len(kept[lv]) == 1 for lv in LEVELS) and
            {w["3"]["conv1"][1] for w in widths["l1"].values()} == {25}),
      Claim("No layer-wise run ends below 20% at any sparsity (the lowest, "
            f"{number(lowest[2], 1)}%, is `{lowest[0]}` at 90% in seed "
            f"{lowest[1]}), against "
            f"{sum(v < 20 for _, _, v in runs[('l1', 3)])} of L1's "
            f"{len(runs[('l1', 3)])} runs at 90%",
            all(v >= 20 for lv in LEVELS for _, _, v in runs[(ARM, lv)])),
      Claim("layer-wise `lt`, `rewind`, `kd` and `kd_rewind` end at "
            f"{each(seed1, signed=False)}%", min(seed1) >= 20),
      Claim(f"{_lt_field(study, ARM, 'flops_remaining')}% of the "
            "multiply-adds left at 50, 75 and 90%, against L1's "
            f"{_lt_field(study, 'l1', 'flops_remaining')}%",
            _smaller(study, "flops_remaining")),
      Claim(f"({_lt_field(study, ARM, 'sparsity')}% against "
            f"{_lt_field(study, 'l1', 'sparsity')}%",
            _smaller(study, "sparsity")),
  ]


def _accuracy_claims(study):
  """`layerwise − L1`, recipe by recipe."""
  recipes = _recipes(study)
  dense = _points(study.values(SETUP, ARM, "dense", 0))
  best = max(recipes, key=lambda r: mean(_points(study.values(SETUP, ARM, r,
                                                              3))))
  minus = {(r, lv): _points(study.minus(SETUP, r, r, lv, ARM, "l1"))
           for r in recipes for lv in LEVELS}
  at90 = {r: minus[(r, 3)] for r in recipes}
  low = min(at90, key=lambda r: mean(at90[r]))
  high = max(at90, key=lambda r: mean(at90[r]))
  lower = {r: sum(v < 0 for v in at90[r]) for r in recipes}
  groups = {count: [r for r in recipes if lower[r] == count]
            for count in sorted(set(lower.values()) - {0})}
  fewer = " and ".join(
      f"{_names(group)} {'ends' if len(group) == 1 else 'end'} lower in "
      f"{_SEEDS[count]}" for count, group in groups.items())
  means = {lv: [mean(minus[(r, lv)]) for r in recipes] for lv in (1, 2)}
  best_values = _points(study.values(SETUP, ARM, best, 3))
  gap = [d - x for d, x in zip(dense, best_values)]
  return [
      Claim(f"the best layer-wise recipe there, `{best}` "
            f"({spread(best_values, signed=False)}%), ends "
            f"{prose_claims.below([-g for g in gap])} points below the dense "
            "network", mean(gap) > 0),
      Claim(f"`layerwise − L1` from {spread(at90[low])} (`{low}`) to "
            f"{spread(at90[high])} (`{high}`)",
            all(mean(v) > 0 for v in at90.values())),
      Claim("it rises in all three seeds for "
            f"{_names([r for r in recipes if not lower[r]])} "
            f"(`random_reinit` {spread(at90['random_reinit'])}), while "
            f"{fewer}",
            not lower["random_reinit"] and set(lower.values()) <= {0, 1, 2}),
      Claim("the nine recipes' mean differences lie between "
            f"{number(min(means[1]), signed=True)} and "
            f"{number(max(means[1]), signed=True)} points at 50% and between "
            f"{number(min(means[2]), signed=True)} and "
            f"{number(max(means[2]), signed=True)} at 75%",
            len(recipes) == 9 and
            all(abs(m) < 2 for lv in (1, 2) for m in means[lv])),
  ]


def _kd_claims(study):
  """KD's pay-back under layer-wise ranking, beside global L1's."""
  reinit = {lv: _points(study.minus(SETUP, "lt", "random_reinit", lv, ARM,
                                    ARM)) for lv in LEVELS}
  share = {(a, lv): _kd_share(study, a, lv)
           for a in ("l1", ARM) for lv in LEVELS}
  pairs = {(a, lv): _points(study.minus(SETUP, a, b, lv, ARM, ARM))
           for a, b in KD_PAIRS for lv in (2, 3)}
  above75 = [a for a, _ in KD_PAIRS
             if prose_claims.all_above(pairs[(a, 2)])]
  return [
      Claim("at 75% " + ", ".join(f"`{a} − {b}` {spread(pairs[(a, 2)])}"
                                  for a, b in KD_PAIRS),
            mean(pairs[("kd", 2)]) < 0),
      Claim("only `kd_lr_rewind − lr_rewind` is above in all three seeds",
            above75 == ["kd_lr_rewind"]),
      Claim("averaged over the four pairs, seed by seed, KD gains "
            f"{spread(share[(ARM, 1)])}, {spread(share[(ARM, 2)])} and "
            f"{spread(share[(ARM, 3)])} points at 50, 75 and 90% under "
            f"layer-wise ranking, against {spread(share[('l1', 1)])}, "
            f"{spread(share[('l1', 2)])} and {spread(share[('l1', 3)])} "
            "under global L1",
            all(mean(share[(ARM, lv)]) < mean(share[("l1", lv)])
                for lv in LEVELS)),
      Claim("at 90% every pair's mean is positive and within its spread ("
            + ", ".join(spread(pairs[(a, 3)]) for a, _ in KD_PAIRS) + ")",
            all(0 < mean(pairs[(a, 3)]) and
                prose_claims.within_spread(pairs[(a, 3)])
                for a, _ in KD_PAIRS)),
      Claim(f"`lt − random_reinit` is {spread(reinit[1])}, "
            f"{spread(reinit[2])} and {spread(reinit[3])} points at 50, 75 "
            "and 90%, above in all three seeds at 75% only",
            [lv for lv in LEVELS if prose_claims.all_above(reinit[lv])] ==
            [2]),
  ]


def claims(study):
  """The layer-wise verdict's numbers, from the rows."""
  return (_structure_claims(study) + _accuracy_claims(study) +
          _kd_claims(study))
