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


def extend(config, stages, stage_type):
  """Returns `stages` (the search's, dense first) with the instability stages.

  Args:
    config: The `LotteryConfig`.
    stages: The search's `Stage`s.
    stage_type: `graph.Stage` (passed in: this module sits below `graph`).
  """
  levels = analysed_levels(config)
  if not levels:
    return stages
  dense = layout_lib.DENSE_KEY
  added = []
  for level in levels:
    needs = {dense: "θ0 and the θk of every start step"}
    if level:
      needs[StageKey(config.recipes[0], level)] = "masks"
    added.append(stage_type(key(level), needs))
  if config.pruning.rewind_step.is_auto:
    stages = [stages[0]] + [
        stage_type(s.key, {**s.needs, key(0): "rewind step (auto)"})
        for s in stages[1:]]
  if config.analysis.name != KIND:
    return [stages[0], added[0]] + stages[1:]
  by_key = {s.key: s for s in stages}
  wanted, frontier = set(), {k for s in added for k in s.needs}
  while frontier:
    wanted |= frontier
    frontier = {d for k in frontier if k in by_key
                for d in by_key[k].needs} - wanted
  return [s for s in stages if s.key in wanted] + added
