r"""Exports levels of an existing workdir as servable SavedModel tickets.

    python tools/export_ticket.py --workdir=workdirs/quickstart --recipe=rewind --level=7
    python tools/export_ticket.py --workdir=workdirs/quickstart --all --tflite

Tickets go to `<workdir>/export/serving/<recipe>/<level>/` (or under
`--base_dir`), the layout TF Serving watches; see README "Serving tickets".
"""

import dataclasses
import json
import os
import sys

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A kdticket_tf workdir.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_string("recipe", None, "Recipe of the level to export.")
flags.DEFINE_integer("level", None, "Level to export (0: the dense model).")
flags.DEFINE_bool("all", False, "Export every finished level.")
flags.DEFINE_string("base_dir", None,
                    "Serving base folder (default <workdir>/export/serving).")
flags.DEFINE_bool("tflite", False, "Also write a TFLite conversion.")
flags.DEFINE_bool("tflite_int8", False,
                  "Also write an int8 post-training quantized TFLite "
                  "conversion (calibrated on training examples).")
flags.DEFINE_list("recipes", [], "With --all: only these recipes (and dense).")


def main(argv):
  kdticket_tf.start_tensorflow()
  del argv
  try:
    found = kdticket_tf.from_workdir(FLAGS.workdir)
    config = dataclasses.replace(
        found.config, export=kdticket_tf.ExportConfig(
            saved_model=True, tflite=FLAGS.tflite or FLAGS.tflite_int8,
            tflite_int8=FLAGS.tflite_int8))
    search = kdticket_tf.Lottery(found.model_fn, found.data, config,
                                         FLAGS.workdir)
    with open(os.path.join(FLAGS.workdir, "results.json"),
              encoding="utf-8") as stream:
      rows = [r for r in json.load(stream) if r.get("status") == "done"]
    if FLAGS.all:
      stages = [(r["recipe"], r["level"]) for r in rows
                if not FLAGS.recipes or r["level"] == 0
                or r["recipe"] in FLAGS.recipes]
    elif FLAGS.level is not None and (FLAGS.recipe or FLAGS.level == 0):
      stages = [(FLAGS.recipe or "dense", FLAGS.level)]
    else:
      raise ValueError("give --recipe and --level (or --level=0), or --all.")
    stages.sort(key=lambda stage: stage[1])  # dense first: sizes relate to it
    for recipe, level in stages:
      path = search.export_stage(recipe, level, FLAGS.base_dir, force=True)
      ticket = kdticket_tf.read_ticket(path)
      print(f"{path}: sparsity {ticket['sparsity']:.4f}, gzip "
            f"{ticket['gzip_bytes']} bytes"
            + (f", TFLite {ticket['tflite_bytes']} bytes"
               if ticket.get("tflite_bytes") else ""))
  except (ValueError, OSError) as error:
    print(f"export_ticket: error: {error}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
