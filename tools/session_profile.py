r"""Where a ticket's time goes when TF Serving runs it: time per layer, one thread.

    python tools/session_profile.py --batch_size=32 --group='^stage\d' \
        --saved_model=workdirs/w/export/serving/dense/0,workdirs/w/export/serving/lt_compact/1

Each SavedModel's `serving_default` signature runs in a TF `Session` as
`tools/benchmark_inference.py` times it (`kdticket_tf.SignatureSession`,
TensorFlow on one thread), traced (`RunOptions.FULL_TRACE`) over `--runs`
calls, each model's taken in turn with the others'; a layer's time is its
median over them, so a slow phase of the CPU or a preemption spoils a call,
not the figure. A node's time goes to the Keras layer it belongs to
(Grappler's fused kernels, such as Conv2D + BatchNormalization + ReLU, are
named after the last layer they absorbed), or to `(signature)` for the
serving graph's own ops (the input normalisation, softmax, argmax) and
`(runtime)` for the rest (function inputs, variable reads). `--group` folds
layers into groups: a layer goes to the first match of the regular
expression in its name (`^stage\d`: ResNet stages), or stays itself. The
first SavedModel is the reference: every other column gives its ratio to it.
Traced times add the tracer's own cost; the untraced time per call is given
beside them: the median of `--rounds` timings, each model's taken in turn
with the others', as the benchmark takes them. The JSON (`--format=json`)
keeps the setting beside the times: threads, the oneDNN variables set
(`ONEDNN_MAX_CPU_ISA=AVX2` holds oneDNN to AVX2), load, the CPU speed probe,
each timing's CPU time over wall time.
"""

import collections
import functools
import json
import os
import re
import sys

from absl import app
from absl import flags
import numpy as np

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from inference_tables import profile_caption
from inference_tables import profile_table

kdticket_tf.start_tensorflow()
kdticket_tf.use_one_thread()  # before anything runs (see SignatureSession)

FLAGS = flags.FLAGS
flags.DEFINE_list("saved_model", None, "Exported tickets (SavedModel folders); "
                  "the first is the reference.")
flags.DEFINE_integer("batch_size", 32, "Batch size of the calls.",
                     lower_bound=1)
flags.DEFINE_integer("runs", 20, "Traced calls of each model, interleaved; "
                     "a layer's time is its median over them.", lower_bound=1)
flags.DEFINE_integer("rounds", 5, "Untraced timings of each model, "
                     "interleaved; the call's time is their median.",
                     lower_bound=1)
flags.DEFINE_string("group", "", "Regular expression folding layers into "
                    "groups (the first match in a layer's name).")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")
flags.mark_flag_as_required("saved_model")


def profile(folders, batch_size, runs, pattern, rounds=5):
  """`{"meta", "models": [{"saved_model", "seconds_per_call", "cpu_per_wall",
  "groups": {group: seconds}}]}`.

  A model's untraced time per call is the median of `rounds` timings, taken
  in turn with the other models' (interleaved, as the benchmark takes them);
  `cpu_per_wall` lists each timing's CPU time over wall time.

  Raises:
    ValueError: a folder holds no ticket's serving signature (before any
      timing).
  """
  sessions = []
  try:
    for folder in folders:
      sessions.append(kdticket_tf.SignatureSession(folder))
    batches = [np.random.default_rng(0).integers(
        0, 256, size=[batch_size] + session.input_shape).astype(np.float32)
               for session in sessions]
    timers = {index: kdticket_tf.median_timer(
        functools.partial(session, images), 0.2)
              for index, (session, images) in enumerate(zip(sessions,
                                                            batches))}
    times, probes, busy = kdticket_tf.interleaved_timings(timers, rounds)
    probes = [probe for pairs in probes.values() for pair in pairs
              for probe in pair]
    groups = _traced_medians(sessions, batches, runs, pattern)
    found = [{"saved_model": folder,
              "seconds_per_call": float(np.median(times[index])),
              "cpu_per_wall": busy[index], "groups": groups[index]}
             for index, folder in enumerate(folders)]
  finally:
    for session in sessions:
      session.close()
  meta = {"batch_size": batch_size, "runs": runs, "rounds": rounds,
          "group": pattern,
          "tensorflow_version": kdticket_tf.start_tensorflow().__version__,
          "tensorflow_threads": kdticket_tf.tensorflow_threads(),
          "onednn_settings": kdticket_tf.onednn_settings(),
          "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
          "fastest_probe_seconds": min(probes),
          "slowest_probe_seconds": max(probes)}
  return {"meta": meta, "models": found}


def _traced_medians(sessions, batches, runs, pattern):
  """Each session's `{layer or group: median seconds}` over `runs` calls.

  The sessions' traced calls are taken in turn, one each per run.
  """
  found = [collections.defaultdict(list) for _ in sessions]
  for session, batch in zip(sessions, batches):
    session.op_times(batch, runs=1)  # rewritten and warm
  for _ in range(runs):
    for index, session in enumerate(sessions):
      for name, seconds in session.layer_times(batches[index], 1, pattern,
                                               warm_up=False).items():
        found[index][name].append(seconds)
  return [{name: float(np.median(values)) for name, values in times.items()}
          for times in found]


def _group_problem(pattern):
  """One sentence on why `--group` is no regular expression, or None.

  (A folder with no ticket in it is refused by `SignatureSession`.)
  """
  try:
    re.compile(pattern)
  except re.error as error:
    return (f"--group={pattern} is not a regular expression ({error}); give "
            "one such as '^stage\\d', or none.")
  return None


def main(argv):
  del argv
  problem = _group_problem(FLAGS.group) or (
      None if FLAGS.saved_model else
      "--saved_model is empty; give one or more exported tickets' folders "
      "(export/serving/<recipe>/<level>), comma-separated.")
  if problem:
    print(f"session_profile: error: {problem}", file=sys.stderr)
    return 1
  try:
    found = profile(FLAGS.saved_model, FLAGS.batch_size, FLAGS.runs,
                    FLAGS.group, FLAGS.rounds)
  except ValueError as error:
    print(f"session_profile: error: {error}", file=sys.stderr)
    return 1
  if FLAGS.format == "json":
    print(json.dumps(found, indent=1))
  else:
    print(profile_caption(found["meta"], found["models"]) + "\n")
    print(profile_table(found["models"]))
  return 0


if __name__ == "__main__":
  app.run(main)
