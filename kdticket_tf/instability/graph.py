"""Where the instability analysis sits in the stage graph (its own stage kind).

An instability stage is `StageKey("instability", L)`: the analysis of the
network of level L, 0 for the dense one, L > 0 for the first recipe's ticket
at level L (its masks). It needs the dense run (θk of every start step, saved
while it trains) and, for a ticket, that ticket's stage (its masks).

* `AnalysisConfig.name='instability'`: the graph is the instability stages and
  what they need; no other ticket trains.
* `PruningConfig.rewind_step=auto`: the search's graph with the dense
  network's instability stage added, and every ticket stage waiting for it
  (its choice of k), so nothing but the dense run trains before k is chosen.
"""

from kdticket_tf.store import layout as layout_lib

KIND = "instability"
StageKey = layout_lib.StageKey


def is_key(key):
  """Whether `key` names an instability stage."""
  return key.recipe == KIND


def key(level=0):
  """Returns the instability stage of the network of `level` (0: dense)."""
  return StageKey(KIND, int(level))


def analysed_levels(config):
  """Returns the levels whose networks the graph analyses (maybe none)."""
  if config.analysis.name == KIND:
    return tuple(config.analysis.levels)
  if config.pruning.rewind_step.is_auto:
    return (0,)
  return ()


def extend(config, stages):
  """Returns `stages` (the search's, dense first) with the instability stages.

  Args:
    config: The `LotteryConfig`.
    stages: The search's stages, `{key: {dependency: what it gives}}`, in the
      sequential order.

  Returns:
    The same form: the analysis's stages after the dense run (under
    `rewind_step=auto`, every ticket stage waiting for the dense network's),
    or, for `AnalysisConfig.name='instability'`, only they and what they need.
  """
  levels = analysed_levels(config)
  if not levels:
    return stages
  dense = layout_lib.DENSE_KEY
  added = {}
  for level in levels:
    needs = {dense: "θ0 and the θk of every start step"}
    if level:
      needs[StageKey(config.recipes[0], level)] = "masks"
    added[key(level)] = needs
  if config.pruning.rewind_step.is_auto:
    stages = {k: needs if k == dense else
              {**needs, key(0): "rewind step (auto)"}
              for k, needs in stages.items()}
  if config.analysis.name != KIND:
    first = next(iter(stages))
    return {first: stages[first], **added,
            **{k: v for k, v in stages.items() if k != first}}
  wanted, frontier = set(), {k for needs in added.values() for k in needs}
  while frontier:
    wanted |= frontier
    frontier = {d for k in frontier if k in stages
                for d in stages[k]} - wanted
  return {**{k: v for k, v in stages.items() if k in wanted}, **added}
