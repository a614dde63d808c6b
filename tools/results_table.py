r"""Prints the results table of one or more workdirs.

    python tools/results_table.py workdirs/quickstart [workdirs/other ...]
"""

import json
import os
import sys

from absl import app

import kdticket_tf


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("Give one or more workdirs.")
  for workdir in argv[1:]:
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
      print(f"results_table: error: {path} does not exist; is {workdir} a "
            "kdticket_tf workdir?", file=sys.stderr)
      return 1
    with open(path, encoding="utf-8") as stream:
      rows = json.load(stream)
    order = []
    for row in rows:
      if row["recipe"] != kdticket_tf.results.DENSE and row["recipe"] not in order:
        order.append(row["recipe"])
    print(f"## {workdir}\n")
    print(kdticket_tf.results.to_markdown(rows, order))
  return 0


if __name__ == "__main__":
  app.run(main)
