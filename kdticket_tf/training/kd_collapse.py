"""Flags a KD student that collapsed to chance accuracy, with its remedies.

With SGD at a large learning rate and no BatchNorm, the KD loss's T² factor
can drive a student to predict one class: its loss stays finite, so the run
does not diverge, but its accuracy is chance. Such a row must not pass as a
result: it carries a `warning` (written in results.csv/.json, marked in
results.md and in the progress line) naming the remedies.
"""

# A student that got at most this fraction of the way from chance accuracy to
# 100% has collapsed (10 classes: 28% or less). Measured: the MNIST-1D
# ConvNet's KD student at T = 5, lr 0.1, ended at 22% with a finite loss.
MARGIN = 0.2


def warning(recipe, test_accuracy, num_classes):
  """Returns the collapse warning of a finished row, or None.

  Args:
    recipe: The row's `Recipe`.
    test_accuracy: Its final test accuracy (a fraction), or None.
    num_classes: Classes of the dataset (0 when unknown: never flagged).
  """
  if not recipe.distill or not num_classes or test_accuracy is None:
    return None
  chance = 1.0 / num_classes
  if test_accuracy > chance + MARGIN * (1.0 - chance):
    return None
  return (f"KD collapse: test accuracy {100 * test_accuracy:.1f}% is near "
          f"chance ({100 * chance:.1f}%); try DistillConfig.reduction='mean', "
          "a lower DistillConfig.temperature, or TrainConfig.clip_norm.")
