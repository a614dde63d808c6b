"""The table of retraining recipes: orthogonal choices, named presets.

A recipe says, for the retraining of a pruned sub-network:

* `start`: which weights it starts from: `init` (θ0), `rewind` (θk, the dense
  run's weights at the rewind step), `previous` (the final weights of the
  previous level of the same recipe; θT at level 1) or `reinit` (a fresh random
  initialisation).
* `schedule_start`: where the LR schedule starts: `zero` or `rewind` (step k:
  the retraining runs the remaining T - k steps).
* `constant_lr`: train at the pruning config's `finetune_lr` instead of the
  schedule.
* `mask`: `magnitude` (the surviving weights of largest magnitude) or `random`
  (a random mask with the per-layer sparsity magnitude pruning would give).
* `masks_from`: another recipe whose masks this one takes at every level
  instead of pruning a lineage of its own: as they are (`magnitude`) or as the
  per-layer counts of a random mask (`random`).
* `distill`: learn from the teacher's soft labels (the KD ticket).

Each recipe is its own lineage: at level L its mask prunes the weights that
survived in its own level L-1, ranked by its own level L-1 final weights (for
`oneshot`, every level ranks the dense final weights). The ablations of
Frankle & Carbin are branches of the `lt` lineage instead (`masks_from="lt"`):
`random_reinit` trains lt's level-L ticket from a fresh random initialisation,
`random_prune` a random mask with lt's level-L per-layer sparsity from θ0.

The table is looked up once, by name; nothing else branches on recipe names.
"""

import dataclasses
from typing import Optional

from kdticket_tf import registry

_STARTS = ("init", "rewind", "previous", "reinit")
_SCHEDULE_STARTS = ("zero", "rewind")
_MASKS = ("magnitude", "random")


@dataclasses.dataclass(frozen=True)
class Recipe:
  """One retraining recipe.

  Attributes:
    name: The recipe's name.
    start: Start weights: `init`, `rewind`, `previous` or `reinit`.
    schedule_start: `zero` or `rewind`.
    constant_lr: Use the fine-tuning learning rate, constant.
    mask: `magnitude` or `random`.
    masks_from: The recipe whose masks (or, for `random`, per-layer counts)
      this one takes at every level; None for a lineage of its own.
    distill: Train on the teacher's soft labels beside the hard labels.
    description: One line for help texts and the README.
  """
  name: str
  start: str
  schedule_start: str = "zero"
  constant_lr: bool = False
  mask: str = "magnitude"
  masks_from: Optional[str] = None
  distill: bool = False
  description: str = ""

  def __post_init__(self):
    if self.start not in _STARTS:
      raise ValueError(f"Recipe start={self.start!r} is not one of {_STARTS}.")
    if self.schedule_start not in _SCHEDULE_STARTS:
      raise ValueError(f"Recipe schedule_start={self.schedule_start!r} is not "
                       f"one of {_SCHEDULE_STARTS}.")
    if self.mask not in _MASKS:
      raise ValueError(f"Recipe mask={self.mask!r} is not one of {_MASKS}.")

  @property
  def uses_rewind_point(self):
    """True when the recipe needs θk or the schedule offset k."""
    return self.start == "rewind" or self.schedule_start == "rewind"


_REGISTRY = registry.Registry("recipe", "LotteryConfig.recipes")
get = _REGISTRY.get
names = _REGISTRY.names


def register(recipe):
  """Adds `recipe` to the table under its name and returns it."""
  return _REGISTRY.add(recipe.name, recipe)


register(Recipe("lt", start="init",
                description="Frankle & Carbin: reset to θ0, full schedule."))
register(Recipe("rewind", start="rewind", schedule_start="rewind",
                description="Weight rewinding: θk, the rest of the schedule."))
register(Recipe("lr_rewind", start="previous",
                description="LR rewinding: previous final weights, full schedule."))
register(Recipe("finetune", start="previous", constant_lr=True,
                description="Fine-tuning: previous final weights, constant small LR."))
register(Recipe("kd", start="init", distill=True,
                description="KD ticket: θ0, full schedule, teacher's soft labels."))
register(Recipe("kd_rewind", start="rewind", schedule_start="rewind",
                distill=True,
                description="KD ticket with rewinding: θk, rest of schedule, soft labels."))
register(Recipe("kd_lr_rewind", start="previous", distill=True,
                description="KD with LR rewinding: previous final weights, soft labels."))
register(Recipe("kd_finetune", start="previous", constant_lr=True, distill=True,
                description="KD fine-tuning (Minitron): previous final weights, "
                "constant small LR, soft labels."))
register(Recipe("random_reinit", start="reinit", masks_from="lt",
                description="Ablation: lt's mask, fresh random init."))
register(Recipe("random_prune", start="init", mask="random", masks_from="lt",
                description="Ablation: θ0, random mask of lt's per-layer sparsity."))
