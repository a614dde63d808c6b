r"""Prints the results table of one or more workdirs, or their mean over seeds.

    python tools/results_table.py workdirs/quickstart [workdirs/other ...]
    python tools/results_table.py --seeds workdirs/study_a/seed_*
    python tools/results_table.py --seeds --column=validation_accuracy \
        docs/kd_ticket_study/study_a/seed_*.json
    python tools/results_table.py --seeds --minus=rewind workdirs/study_a/seed_*

Each argument is a workdir or a results JSON file (a workdir's `results.json`,
or a copy of it such as the rows committed under docs/). With `--seeds`, the
arguments are runs of one setup with different seeds, and each cell is the mean
± sample standard deviation over them, with the number of runs in brackets;
with `--minus=R`, each cell is the difference from recipe R's accuracy at the
same level, seed by seed (paired), so the spread is that of the difference.
"""

import sys

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
flags.DEFINE_bool("seeds", False,
                  "Treat the runs as seeds of one setup: mean ± std (n).")
flags.DEFINE_string("minus", None,
                    "With --seeds: each recipe's paired difference from this "
                    "recipe (per seed and level), in points.")
flags.DEFINE_enum("column", "test_accuracy",
                  ["test_accuracy", "test_accuracy_at_best_validation",
                   "validation_accuracy"], "The figure each cell shows.")


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("Give one or more workdirs or results JSON files.")
  try:
    runs = [kdticket_tf.results.read(path) for path in argv[1:]]
  except ValueError as error:
    print(f"results_table: error: {error}", file=sys.stderr)
    return 1
  results = kdticket_tf.results
  if FLAGS.seeds:
    order = results.recipe_order(runs)
    if FLAGS.minus:
      runs = [results.differences_from(rows, FLAGS.minus, FLAGS.column)
              for rows in runs]
      print(f"{FLAGS.column} minus {FLAGS.minus}'s (points), paired by seed: "
            f"mean ± std (n)\n")
    else:
      print(f"{FLAGS.column} (%), mean ± std (n) over {len(runs)} runs\n")
    summary = results.summarize_seeds(runs, FLAGS.column)
    print(results.seeds_to_markdown(summary, order, points=bool(FLAGS.minus)))
    return 0
  for path, rows in zip(argv[1:], runs):
    shown = [dict(row, test_accuracy=row.get(FLAGS.column)) for row in rows]
    print(f"## {path}\n")
    print(results.to_markdown(shown, results.recipe_order([rows])))
  return 0


if __name__ == "__main__":
  app.run(main)
