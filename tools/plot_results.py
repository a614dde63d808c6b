r"""Plots test accuracy against sparsity for one or more workdirs in one figure.

    python tools/plot_results.py --output=compare.png workdirs/a workdirs/b
    python tools/plot_results.py --output=seeds.png --seeds workdirs/seed0 workdirs/seed1

Each argument is a workdir or a results JSON file (such as the rows committed
under docs/). Without `--seeds`, each workdir's recipes are drawn as their own
lines, labelled with the workdir's name (or `--labels`) when there are several.
With `--seeds`, the workdirs are runs of one setup with different seeds: each
recipe is drawn once, as the mean over the workdirs with a band from the lowest
to the highest accuracy.
"""

import os
import sys

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "accuracy_vs_sparsity.png", "PNG to write.")
flags.DEFINE_list("labels", None, "One label per workdir (default: names).")
flags.DEFINE_bool("seeds", False, "Average the workdirs (runs of several seeds).")
flags.DEFINE_string("title", "Test accuracy against sparsity", "Figure title.")


def main(argv):
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError("Give one or more workdirs.")
  labels = FLAGS.labels or [os.path.basename(w.rstrip("/")) for w in workdirs]
  if len(labels) != len(workdirs):
    print(f"plot_results: error: {len(labels)} labels for {len(workdirs)} "
          "workdirs.", file=sys.stderr)
    return 1
  # One run needs no name in its legend, unless the user gave one.
  named = not FLAGS.seeds and (len(workdirs) > 1 or FLAGS.labels)
  runs = []
  for label, workdir in zip(labels, workdirs):
    try:
      rows = kdticket_tf.results.read(workdir)
    except ValueError as error:
      print(f"plot_results: error: {error}", file=sys.stderr)
      return 1
    runs.append((f"{label}: " if named else "", rows))
  kdticket_tf.plot_accuracy_vs_sparsity(runs, FLAGS.output, FLAGS.title)
  print(FLAGS.output)
  return 0


if __name__ == "__main__":
  app.run(main)
