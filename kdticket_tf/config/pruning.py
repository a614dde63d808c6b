"""The pruning settings of a search: `PruningConfig`, a section of `LotteryConfig`.

How masks are found at each level: IMP or one-shot, the sparsities, global or
layer-wise ranking, the layers kept dense, the rewind step k, and the
sparsity structure (single weights, 1x4 or 1x16 blocks, 2:4, whole channels:
the structures and their names are `pruning/structures.py`'s) and how channels
are ranked. `lottery.py` holds the other
sections; like them, every field is declared once with `fields.setting` and
validated in `__post_init__`, with one sentence naming the field, the bad
value and what would be accepted.
"""

import dataclasses
import math
import re
from typing import Optional, Tuple

from kdticket_tf.config import fields
from kdticket_tf.pruning import structures

Duration = fields.Duration
setting = fields.setting


def _check_regexes(config, field, patterns):
  for pattern in patterns:
    try:
      re.compile(pattern)
    except re.error as error:
      raise ValueError(
          f"{fields.name(config, field)} pattern {pattern!r} is not a regular "
          f"expression ({error}).") from None


@dataclasses.dataclass(frozen=True)
class PruningConfig:
  """How masks are found at each level.

  Attributes:
    schedule: `iterative` (IMP: each level removes `fraction` of the surviving
      weights) or `oneshot` (the dense final weights pruned to each target).
    fraction: Fraction of surviving weights removed per iterative level.
    levels: Number of pruned levels; 0 runs the dense network only (to train
      a teacher, or to choose a training recipe on the validation split).
    target_sparsities: Oneshot targets (increasing, in (0, 1)); empty means
      1-(1-fraction)^k for k = 1..levels, the same sparsities as IMP.
    scope: `global` (rank all prunable weights together) or `layerwise` (prune
      each layer by the same fraction).
    keep_dense: Regular expressions; layers whose name matches one fully are
      left dense (never wrapped, never pruned).
    rewind_step: The step k of weight rewinding (`500it`, `2ep`), or `auto`:
      the earliest of `AnalysisConfig.steps` at which the dense network's
      training is stable (see `instability`).
    finetune_lr: Constant learning rate of the `finetune` recipe; None for
      the schedule's final learning rate (its rate at the last step; nearly 0
      for `cosine`, so give one there).
    layer_fractions: `(regex, fraction)` pairs of iterative layer-wise
      pruning: a layer whose name matches a regex fully (the first that does)
      loses that fraction of its surviving weights per level instead of
      `fraction` (Frankle & Carbin prune the output layer at half the rate);
      under the `channel` structure, that fraction of its channels.
    structure: How weights are pruned together: `unstructured`, `1x4`,
      `1x16`, `2:4` or `channel` (whole units and filters with what is
      coupled to them; `pruning/structures.py`).
    channel_criterion: How the `channel` structure ranks channels: `l1` (the
      L1 norm of their kernel weights, per weight; Li et al. 2017) or
      `refill` (the share of their weights an unstructured magnitude mask at
      the same sparsity keeps; Chen et al. 2022).
  """
  schedule: str = setting("iterative", "prune_schedule",
                          "IMP or one-shot pruning.",
                          choices=("iterative", "oneshot"), hparam=True)
  fraction: float = setting(
      0.2, "prune_fraction",
      "Fraction of surviving weights pruned per iterative level.", hparam=True)
  levels: int = setting(3, "levels",
                        "Number of pruned levels (0: the dense run only).",
                        neutral=True)
  target_sparsities: Tuple[float, ...] = setting(
      (), "target_sparsities",
      "Oneshot target sparsities (default: 1-(1-p)^k).", kind="float_list")
  scope: str = setting("global", "prune_scope",
                       "Rank all prunable weights together or per layer.",
                       choices=("global", "layerwise"), hparam=True)
  keep_dense: Tuple[str, ...] = setting(
      (), "keep_dense", "Regexes of layer names to leave dense.", kind="list")
  rewind_step: Duration = setting(
      Duration(0, "it"), "rewind_step", "Rewind step k: 500it, 2ep, or auto "
      "(the earliest stable start step of the instability analysis).",
      kind="step", hparam=True)
  finetune_lr: Optional[float] = setting(
      None, "finetune_lr", "Constant LR of the finetune recipe (default: the "
      "rate of the schedule's last step).", kind="float")
  layer_fractions: Tuple[Tuple[str, float], ...] = setting(
      (), "layer_prune_fractions",
      "regex:fraction pairs for iterative layer-wise pruning: a layer whose "
      "name matches loses that fraction per level (e.g. logits:0.1).",
      kind="pairs")
  structure: str = setting(
      "unstructured", "sparsity_structure",
      "How weights are pruned together: single weights, 1x4 or 1x16 blocks of "
      "consecutive input weights, 2:4 (2 kept of every 4), or channel (whole "
      "units and filters, with their BatchNorm and consumers' inputs).",
      choices=structures.names(), hparam=True)
  channel_criterion: str = setting(
      "l1", "channel_criterion",
      "How the channel structure ranks channels: l1 (the L1 norm of their "
      "weights, per weight) or refill (the most weights kept by an "
      "unstructured mask at the same sparsity).",
      choices=structures.CHANNEL_CRITERIA, hparam=True)

  def __post_init__(self):
    fields.check_choice(self, "schedule")
    fields.check_choice(self, "structure")
    fields.check_choice(self, "scope")
    fields.check_choice(self, "channel_criterion")
    if (self.channel_criterion != "l1" and
        self.structure != structures.CHANNEL):
      raise ValueError(
          f"PruningConfig.channel_criterion={self.channel_criterion!r} ranks "
          "the channels of PruningConfig.structure='channel', not those of "
          f"PruningConfig.structure={self.structure!r}, which would ignore "
          "it; set PruningConfig.structure='channel' or drop the criterion.")
    if not 0.0 < self.fraction < 1.0:
      raise fields.wrong(self, "fraction", "must be strictly between 0 and 1.")
    if self.levels < 0:
      raise fields.wrong(self, "levels",
                         "must be 0 (the dense run only) or more.")
    targets = self.target_sparsities
    if targets and self.schedule != "oneshot":
      raise ValueError(
          "PruningConfig.target_sparsities is only used by "
          "PruningConfig.schedule='oneshot'; remove it or prune one-shot.")
    if any(not 0.0 < t < 1.0 for t in targets):
      raise fields.wrong(self, "target_sparsities",
                         "must all lie strictly between 0 and 1.")
    if any(b <= a for a, b in zip(targets, targets[1:])):
      raise fields.wrong(self, "target_sparsities",
                         "must be strictly increasing.")
    _check_regexes(self, "keep_dense", self.keep_dense)
    if self.finetune_lr is not None:
      fields.check_positive(self, "finetune_lr")
    _check_regexes(self, "layer_fractions",
                   [pattern for pattern, _ in self.layer_fractions])
    for pattern, fraction in self.layer_fractions:
      if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"PruningConfig.layer_fractions gives {pattern!r} the fraction "
            f"{fraction}; it must be strictly between 0 and 1.")
    if self.layer_fractions and (self.scope, self.schedule) != ("layerwise",
                                                                "iterative"):
      raise ValueError(
          "PruningConfig.layer_fractions applies to iterative layer-wise "
          f"pruning, but PruningConfig.scope={self.scope!r} and "
          f"PruningConfig.schedule={self.schedule!r}; set "
          "PruningConfig.scope='layerwise' and "
          "PruningConfig.schedule='iterative', or drop the layer fractions.")
    fixed = structures.get(self.structure).fixed_sparsity
    if (fixed is not None and self.num_levels and
        (self.num_levels, self.expected_sparsity(1)) != (1, fixed)):
      raise ValueError(
          f"PruningConfig.structure={self.structure!r} prunes exactly "
          f"{fixed:.0%} of every layer, in one level, "
          f"but {self.num_levels} levels reaching "
          f"{self.expected_sparsity(self.num_levels):.4g} were asked for; set "
          f"PruningConfig.target_sparsities=({fixed:g},) with "
          "PruningConfig.schedule='oneshot', or PruningConfig.levels=1 with "
          f"PruningConfig.fraction={fixed:g}.")

  def fraction_of(self, layer_name):
    """Returns the fraction pruned per level from the layer `layer_name`."""
    for pattern, fraction in self.layer_fractions:
      if re.fullmatch(pattern, layer_name):
        return fraction
    return self.fraction

  @property
  def num_levels(self):
    """Number of pruned levels (targets given explicitly count for oneshot)."""
    return len(self.target_sparsities) or self.levels

  def expected_sparsity(self, level):
    """Returns the nominal sparsity after `level` (1-based) pruned levels."""
    if self.target_sparsities:
      return self.target_sparsities[level - 1]
    return 1.0 - math.pow(1.0 - self.fraction, level)
