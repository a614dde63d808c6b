"""The settings of the instability analysis (linear mode connectivity).

`AnalysisConfig` is a section of `config.LotteryConfig` (as `runtime.py`'s
are): whether the analysis runs (`name='instability'`), from which start
steps k, with how many points along the path, how BatchNorm statistics are set at each point,
and the barrier below which training counts as stable (`rewind_step=auto`
picks the earliest stable k).
"""

import dataclasses
from typing import Tuple

from kdticket_tf.config import fields

setting = fields.setting
Duration = fields.Duration


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
  """The instability analysis of Frankle, Dziugaite, Roy & Carbin (2020).

  Attributes:
    name: `none` (a lottery search) or `instability` (the dense run, then the
      instability of `levels`' networks; no other ticket is trained). It
      changes which stages run, not their results, so a workdir analysed
      first may go on with the search (under `rewind_step=auto`).
    steps: The start steps k (`0`, `100it`, `1ep`); two copies train from θk.
    points: Points along the linear path between the two end points, both
      end points included.
    batchnorm: `recomputed` (each interpolated network's moving statistics
      are recomputed from one pass over the training set) or `interpolated`
      (the end points' statistics interpolated like any weight).
    threshold: Barrier (test error points) at or below which training from k
      is stable; `PruningConfig.rewind_step=auto` picks the earliest such k.
    levels: Networks analysed: 0 is the dense network; L > 0 the ticket of
      the first recipe at level L (its masks, with θk as rewinding starts).
  """
  name: str = setting("none", "analysis",
                      "none: a lottery search; instability: the "
                      "linear-mode-connectivity analysis.",
                      choices=("none", "instability"), neutral=True)
  steps: Tuple[Duration, ...] = setting(
      (Duration(0, "it"),), "instability_steps",
      "Start steps k of the instability analysis: 0,100it,1ep.",
      kind="duration_list")
  points: int = setting(11, "instability_points",
                        "Points on the linear path, end points included.")
  batchnorm: str = setting(
      "recomputed", "instability_batchnorm",
      "BatchNorm statistics along the path: recomputed from training "
      "batches, or interpolated.", choices=("recomputed", "interpolated"))
  threshold: float = setting(
      2.0, "stability_threshold",
      "Barrier in error points at or below which training is stable.")
  levels: Tuple[int, ...] = setting(
      (0,), "instability_levels",
      "Networks analysed: 0 the dense one, L the first recipe's ticket at "
      "level L.", kind="int_list")

  def __post_init__(self):
    fields.check_choice(self, "name")
    fields.check_choice(self, "batchnorm")
    fields.check_at_least(self, "points", 2)
    fields.check_at_least(self, "threshold", 0)
    if not self.steps:
      raise fields.wrong(self, "steps", "is empty; give at least one start "
                         "step, for example 0,1ep.")
    if not self.levels or any(level < 0 for level in self.levels):
      raise fields.wrong(self, "levels", "must name levels 0 or more, for "
                         "example 0.")
    if len(set(self.levels)) != len(self.levels):
      raise fields.wrong(self, "levels", "names a level twice.")
