"""Where a ticket stage's start weights, masks and teacher come from.

The one answer to "which stage gives this stage what it reads". The graph asks
it for a stage's dependencies (`needs`), the ticket stage for the files it
loads (`start`, `teacher`), the level masks for the weights they rank and the
masks they start from (`ranked`, `masks`).

* Masks: a branch (`Recipe.masks_from`) takes its source recipe's masks at the
  same level. Otherwise under iterative pruning (IMP) a level prunes what its
  lineage's previous level kept, ranking the weights that level trained; level
  1, and every level under one-shot pruning, ranks the dense run's θT.
* Start weights: θ0 (`init`) or θk (`rewind`) of the dense run; `previous` is
  the lineage's previous level under iterative pruning, θT under one-shot
  pruning and at level 1 (Renda et al.'s one-shot recipe); `reinit` reads no
  file (a fresh initialisation).
* The teacher of a KD recipe: the dense θT, the lineage's previous level
  (`teacher=previous_level`; θT at level 1), or a file the user names.
"""

from typing import NamedTuple, Optional

from kdticket_tf.store import layout as layout_lib

StageKey = layout_lib.StageKey
DENSE_KEY = layout_lib.DENSE_KEY


class Source(NamedTuple):
  """A file one stage reads from another.

  Attributes:
    key: The stage that writes it.
    file: Which of its files: `init` (θ0), `rewind` (θk), `final` (its
      trained weights) or `masks`.
    reason: What it gives the reading stage, as `describe` lists it.
  """
  key: StageKey
  file: str
  reason: str

  def path(self, layout):
    """Returns the file's path in `layout`."""
    if self.file == "init":
      return layout.init_weights
    if self.file == "rewind":
      return layout.rewind_weights
    if self.file == "masks":
      return layout.masks(self.key)
    return layout.final_weights(self.key)


def _previous(recipe, level):
  """The lineage's previous level: the recipe at L-1, the dense run at 1."""
  return StageKey(recipe.name, level - 1) if level > 1 else DENSE_KEY


def _chained(config, level):
  """Whether a level builds on its lineage's previous one (IMP past level 1)."""
  return config.pruning.schedule == "iterative" and level > 1


def ranked(config, recipe, level):
  """Returns the `Source` of the weights a magnitude mask ranks."""
  if _chained(config, level):
    return Source(_previous(recipe, level), "final", "ranked weights")
  return Source(DENSE_KEY, "final", "ranked weights θT")


def masks(config, recipe, level):
  """Returns the `Source` of the masks `recipe` starts from at `level`.

  A branch's source masks (taken as they are), the previous level's masks (a
  chained level prunes only what they kept), or None: a lineage's first
  level, and every level under one-shot pruning, starts from no mask.
  """
  if recipe.masks_from:
    return Source(StageKey(recipe.masks_from, level), "masks", "masks")
  if _chained(config, level):
    return Source(_previous(recipe, level), "masks", "masks")
  return None


def start(config, recipe, level):
  """Returns the `Source` of `recipe`'s start weights at `level`.

  None for `reinit`, which starts from a fresh initialisation.
  """
  if recipe.start == "init":
    return Source(DENSE_KEY, "init", "start weights θ0")
  if recipe.start == "rewind":
    return Source(DENSE_KEY, "rewind", "start weights θk")
  if recipe.start == "previous":
    if _chained(config, level):
      return Source(_previous(recipe, level), "final", "start weights")
    return Source(DENSE_KEY, "final", "start weights θT")
  return None


def teacher(config, recipe, level) -> Optional[Source]:
  """Returns the `Source` of a KD recipe's teacher (None: not distilled, or a
  teacher file the user named, `DistillConfig.teacher`)."""
  if not recipe.distill:
    return None
  choice = config.distill.teacher
  if choice == "dense" or (choice == "previous_level" and level == 1):
    return Source(DENSE_KEY, "final", "teacher")
  if choice == "previous_level":
    return Source(_previous(recipe, level), "final", "teacher")
  return None


def teacher_path(config, layout, recipe, level):
  """Returns the weights file or SavedModel of `recipe`'s teacher at `level`."""
  source = teacher(config, recipe, level)
  return source.path(layout) if source else config.distill.teacher


def needs(config, recipe, level):
  """Returns `{stage: what it gives}` of `recipe` at `level`.

  A stage that gives several things is listed once, its reasons joined in the
  order a stage reads them: θ0 or θk, masks, ranked weights, the previous
  weights, the teacher.
  """
  begin = start(config, recipe, level)
  sources = [
      begin if begin and begin.file != "final" else None,
      masks(config, recipe, level),
      None if recipe.masks_from else ranked(config, recipe, level),
      begin if begin and begin.file == "final" else None,
      teacher(config, recipe, level)]
  found = {}
  for source in filter(None, sources):
    found[source.key] = (f"{found[source.key]}, {source.reason}"
                         if source.key in found else source.reason)
  return found
