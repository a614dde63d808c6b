r"""Where a ticket's time goes when TF Serving runs it: time per layer, one thread.

    python tools/session_profile.py --batch_size=32 --group='^stage\d' \
        --saved_model=workdirs/w/export/serving/dense/0,workdirs/w/export/serving/lt_compact/1

Each SavedModel's `serving_default` signature runs in a TF `Session` as
`tools/benchmark_inference.py` times it (`kdticket_tf.SignatureSession`,
TensorFlow on one thread), traced (`RunOptions.FULL_TRACE`) over `--runs`
calls. A node's time goes to the Keras layer it belongs to (Grappler's fused
kernels, such as Conv2D + BatchNormalization + ReLU, are named after the last
layer they absorbed), or to `(signature)` for the serving graph's own ops
(the input normalisation, softmax, argmax) and `(runtime)` for the rest
(function inputs, variable reads). `--group` folds layers into groups: a layer
goes to the first match of the regular expression in its name (`^stage\d`:
ResNet stages), or stays itself. The first SavedModel is the reference: every
other column gives its ratio to it. Traced times add the tracer's own cost;
the untraced time per call is given beside them.
"""

import json
import os
import re
import sys
import time

from absl import app
from absl import flags
import numpy as np

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=g-import-not-at-top,wrong-import-position
from inference_tables import profile_table

kdticket_tf.start_tensorflow()
kdticket_tf.use_one_thread()  # before anything runs (see SignatureSession)

FLAGS = flags.FLAGS
flags.DEFINE_list("saved_model", None, "Exported tickets (SavedModel folders); "
                  "the first is the reference.")
flags.DEFINE_integer("batch_size", 32, "Batch size of the calls.")
flags.DEFINE_integer("runs", 20, "Traced calls to average.")
flags.DEFINE_string("group", "", "Regular expression folding layers into "
                    "groups (the first match in a layer's name).")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")
flags.mark_flag_as_required("saved_model")


def _per_call(session, images, seconds=0.5):
  session(images)
  calls, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    session(images)
    calls += 1
  return (time.perf_counter() - start) / calls


def profile(folders, batch_size, runs, pattern):
  """`[{"saved_model", "seconds_per_call", "groups": {group: seconds}}]`."""
  found = []
  for folder in folders:
    session = kdticket_tf.SignatureSession(folder)
    images = np.random.default_rng(0).integers(
        0, 256, size=[batch_size] + session.input_shape).astype(np.float32)
    found.append({"saved_model": folder,
                  "seconds_per_call": _per_call(session, images),
                  "groups": session.layer_times(images, runs, pattern)})
    session.close()
  return found


def _problem(folders, pattern):
  """One sentence on what cannot be profiled, or None."""
  for folder in folders:
    if not os.path.exists(os.path.join(folder, "saved_model.pb")):
      return (f"--saved_model={folder} holds no saved_model.pb; give exported "
              "tickets' folders (export/serving/<recipe>/<level>).")
  try:
    re.compile(pattern)
  except re.error as error:
    return (f"--group={pattern} is not a regular expression ({error}); give "
            "one such as '^stage\\d', or none.")
  return None


def main(argv):
  del argv
  problem = _problem(FLAGS.saved_model, FLAGS.group)
  if problem:
    print(f"session_profile: error: {problem}", file=sys.stderr)
    return 1
  found = profile(FLAGS.saved_model, FLAGS.batch_size, FLAGS.runs, FLAGS.group)
  if FLAGS.format == "json":
    print(json.dumps({"batch_size": FLAGS.batch_size, "runs": FLAGS.runs,
                      "group": FLAGS.group, "models": found}, indent=1))
  else:
    print(f"µs per call at batch {FLAGS.batch_size} in a one-thread TF "
          f"Session, mean over {FLAGS.runs} traced calls (ratio to the "
          "first model's):\n")
    print(profile_table(found))
  return 0


if __name__ == "__main__":
  app.run(main)
