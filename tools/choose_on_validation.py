r"""Chooses among candidate runs by their mean validation accuracy.

    python tools/choose_on_validation.py --recipe=kd workdirs/kd_select/*

Each workdir is one candidate (for example one KD temperature). Its score is
the mean, over the recipe's levels, of the validation accuracy at the end of
training; the test set plays no part. Prints one line per candidate and the
chosen one last (`chosen: DIR`).
"""

import json
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "kd", "The recipe whose rows are scored.")


def score(workdir, recipe):
  """Returns the mean final validation accuracy of `recipe`'s rows, or None."""
  with open(os.path.join(workdir, "results.json"), encoding="utf-8") as stream:
    rows = [r for r in json.load(stream) if r["recipe"] == recipe
            and r.get("status") == "done"]
  values = [r["validation_accuracy"] for r in rows
            if r.get("validation_accuracy") is not None]
  return sum(values) / len(values) if values else None


def main(argv):
  scores = {}
  for workdir in argv[1:]:
    value = score(workdir, FLAGS.recipe)
    scores[workdir] = value
    print(f"{workdir}: mean validation accuracy "
          f"{'n/a' if value is None else f'{100 * value:.2f}%'}")
  scored = {k: v for k, v in scores.items() if v is not None}
  if not scored:
    print("choose_on_validation: error: no candidate has validation rows.",
          file=sys.stderr)
    return 1
  print(f"chosen: {max(scored, key=scored.get)}")
  return 0


if __name__ == "__main__":
  app.run(main)
