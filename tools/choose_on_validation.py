r"""Chooses among candidate runs by their mean validation accuracy.

    python tools/choose_on_validation.py --recipe=kd workdirs/kd_select/*
    python tools/choose_on_validation.py --recipe=kd \
        docs/kd_ticket_study/study_c/kd_select/*.json

Each argument is one candidate (for example one KD temperature): a workdir, or
a results JSON file (a workdir's `results.json` or a committed copy of it).
Its score is the mean, over the recipe's finished levels, of the validation
accuracy at the end of training; the test set plays no part. Prints one line
per candidate and the chosen one last (`chosen: PATH`); among equal scores the
first given is chosen.
"""

import sys

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "kd", "The recipe whose rows are scored.")


def score(rows, recipe):
  """Returns the mean final validation accuracy of `recipe`'s rows, or None.

  Rows that did not finish (a `status` other than `done`) are left out.
  """
  values = [r["validation_accuracy"] for r in rows
            if r["recipe"] == recipe and r.get("status", "done") == "done"
            and r.get("validation_accuracy") is not None]
  return sum(values) / len(values) if values else None


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("Give the candidates' workdirs or results files.")
  scores = {}
  for path in argv[1:]:
    try:
      value = score(kdticket_tf.results.read(path), FLAGS.recipe)
    except ValueError as error:
      print(f"choose_on_validation: error: {error}", file=sys.stderr)
      return 1
    scores[path] = value
    print(f"{path}: mean validation accuracy "
          f"{'n/a' if value is None else f'{100 * value:.2f}%'}")
  scored = {k: v for k, v in scores.items() if v is not None}
  if not scored:
    print(f"choose_on_validation: error: no candidate has finished "
          f"{FLAGS.recipe!r} rows with a validation accuracy; give runs with "
          "a validation split (--validation_size).", file=sys.stderr)
    return 1
  print(f"chosen: {max(scored, key=scored.get)}")
  return 0


if __name__ == "__main__":
  app.run(main)
