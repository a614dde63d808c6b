"""The stages of a lottery search and what each one reads from the others.

A search is the dense run, then one stage per (recipe, level), and the stages
of an analysis when one is asked for; each kind of stage (`kinds.py`) adds its
own and says what they need. A ticket depends on the stages whose files it
reads: its masks, start weights and teacher (`lineage.py`). Under one-shot
pruning every ticket needs only the dense run (and a branch its source
recipe's stage); under iterative pruning each lineage is a chain.

A `Graph` answers what the coordinator asks: which stages are ready, which
depend on a failed one, and how long the search takes on N workers.
"""

import dataclasses
import heapq
from typing import Dict

from kdticket_tf.search import kinds
from kdticket_tf.store import layout as layout_lib

StageKey = layout_lib.StageKey
DENSE_KEY = layout_lib.DENSE_KEY


@dataclasses.dataclass(frozen=True)
class Stage:
  """One node of the graph.

  Attributes:
    key: The stage.
    needs: `{dependency: what it gives this stage}`, e.g. `{dense: "θ0, θk"}`.
  """
  key: StageKey
  needs: Dict[StageKey, str]

  @property
  def dependencies(self):
    return tuple(self.needs)


class Graph:
  """The stages of a search in the sequential order, with their dependencies."""

  def __init__(self, stages):
    self.stages = tuple(stages)
    self._by_key = {stage.key: stage for stage in self.stages}
    self._topological = []  # the sequential order, each after its needs
    placed = set()
    while len(placed) < len(self.stages):
      for stage in self.stages:
        if stage.key not in placed and set(stage.dependencies) <= placed:
          self._topological.append(stage)
          placed.add(stage.key)
          break
      else:
        raise ValueError("The stages depend on each other in a cycle.")

  def __iter__(self):
    return iter(self.stages)

  def __len__(self):
    return len(self.stages)

  def __getitem__(self, key):
    return self._by_key[key]

  @property
  def keys(self):
    return tuple(stage.key for stage in self.stages)

  def dependents(self, key):
    """Returns every stage that needs `key`, directly or through others."""
    found, frontier = set(), {key}
    while frontier:
      frontier = {s.key for s in self.stages
                  if frontier & set(s.dependencies) and s.key not in found}
      found |= frontier
    return [k for k in self.keys if k in found]

  def ready(self, finished, started=()):
    """Returns the stages not yet started whose dependencies all finished."""
    finished, started = set(finished), set(started)
    return [s.key for s in self.stages
            if s.key not in finished and s.key not in started
            and set(s.dependencies) <= finished]

  def critical_path(self, seconds):
    """Returns the longest chain of stages, weighting each by `seconds(key)`."""
    longest = {}
    for stage in self._topological:
      longest[stage.key] = seconds(stage.key) + max(
          (longest[d] for d in stage.dependencies), default=0.0)
    return max(longest.values(), default=0.0)

  def wall_time(self, seconds, workers):
    """Returns the wall time of the graph on `workers` workers.

    Simulates the executors: whenever a worker is free it takes the first
    ready stage in the sequential order; stage `key` takes `seconds(key)`.
    """
    clock, finished, started, running = 0.0, set(), set(), []
    while len(finished) < len(self.stages):
      for key in self.ready(finished, started)[:workers - len(running)]:
        heapq.heappush(running, (clock + seconds(key), key))
        started.add(key)
      clock, key = heapq.heappop(running)
      finished.add(key)
    return clock

  def widths(self):
    """Returns the number of stages at each depth of the graph (its waves)."""
    depth = {}
    for stage in self._topological:
      depth[stage.key] = 1 + max((depth[d] for d in stage.dependencies),
                                 default=-1)
    counts = {}
    for value in depth.values():
      counts[value] = counts.get(value, 0) + 1
    return [counts[d] for d in sorted(counts)]


def build(config):
  """Returns the `Graph` of a `LotteryConfig`: dense, then level by level.

  The order is the sequential executor's: the dense run, then each level's
  recipes in the order of `config.recipes`; each kind of stage (`kinds.py`)
  adds its own, the instability analysis's after the dense run.
  """
  return Graph(Stage(key, needs) for key, needs in kinds.stages(config).items())


def describe(graph):
  """Returns lines naming each stage and what it reads from which stage."""
  lines = []
  for stage in graph:
    needs = "; ".join(f"{reason} from {key}" for key, reason in
                      stage.needs.items()) or "nothing"
    lines.append(f"{stage.key}: {needs}")
  return lines

