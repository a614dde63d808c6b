r"""Prints the stage graph of a flagfile and its wall time on N workers.

    python tools/search_graph.py --flagfile=configs/cifar10_resnet56_kd.flags \
        --workers=8 --training_hours=1.0 --steps_per_epoch=351

Takes the trainer's flags (a flagfile, and any flag after it). Each stage is
weighted by its training steps: a full training is `--training_hours`, and a
rewound one the remaining T - k steps of it (`--steps_per_epoch` converts
epoch durations). Prints the number of stages, the stages that can run at once
at each depth of the graph, the longest chain, and the wall time of the search
one stage at a time and on `--workers` workers (each free worker takes the
first ready stage, as the executors do). `--describe` also lists what each
stage reads from which.
"""

import sys

from absl import app
from absl import flags

import kdticket_tf

FLAGS = flags.FLAGS
trainer_flags = kdticket_tf.trainer_flags  # defines the trainer's flags
flags.DEFINE_integer("steps_per_epoch", 1000,
                     "Training steps per epoch of the dataset (for rewind "
                     "offsets given in iterations).")
flags.DEFINE_float("training_hours", 1.0,
                   "Hours of one full training on one worker.")
flags.DEFINE_bool("describe", False, "List every stage and what it reads.")
FLAGS.set_default("workdir", "unused")


def _hours(value):
  return f"{value:.2f} h ({60 * value:.0f} min)"


def main(argv):
  del argv
  try:
    config = trainer_flags.config_from_flags()
  except ValueError as error:
    print(f"search_graph: error: {error}", file=sys.stderr)
    return 1
  total = config.train.total_steps(FLAGS.steps_per_epoch)
  step = config.pruning.rewind_step
  if step.is_auto:  # not chosen yet: the earliest candidate, as an estimate
    step = config.analysis.steps[0]
  rewind = step.to_steps(FLAGS.steps_per_epoch)
  starts = sorted(d.to_steps(FLAGS.steps_per_epoch)
                  for d in config.analysis.steps)

  def hours(key):
    if key.recipe == "instability":  # two copies from each start step
      return FLAGS.training_hours * sum(2 * (total - k) for k in starts) / total
    recipe = kdticket_tf.get_recipe(key.recipe) if key.level else None
    if recipe and recipe.schedule_start == "rewind":
      return FLAGS.training_hours * (total - rewind) / total
    return FLAGS.training_hours

  graph = kdticket_tf.search_graph(config)
  if FLAGS.describe:
    print("\n".join(kdticket_tf.describe_graph(graph)) + "\n")
  sequential = sum(hours(k) for k in graph.keys)
  workers = config.executor.workers
  print(f"stages: {len(graph)}; at once, by depth: "
        f"{', '.join(map(str, graph.widths()))}")
  print(f"longest chain: {_hours(graph.critical_path(hours))}")
  print(f"one stage at a time: {_hours(sequential)}")
  print(f"{workers} workers: {_hours(graph.wall_time(hours, workers))}")
  return 0


if __name__ == "__main__":
  app.run(main)
