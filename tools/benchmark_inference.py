r"""Inference latency and size of exported tickets against their dense model.

    python tools/benchmark_inference.py --workdir=workdirs/study_d/1x4/seed_0
    python tools/benchmark_inference.py \
        --workdir=workdirs/study_d/1x4/seed_0,workdirs/study_d/unstructured/seed_0 \
        --recipes=lt --format=json > benchmark.json
    python tools/benchmark_inference.py --from_json=benchmark.json   # tables

For the dense model and every exported ticket of the workdirs (their
`export/serving/<recipe>/<level>/` SavedModels and `export/tflite/` files, as
`--export --export_tflite` or `tools/export_ticket.py --all --tflite` write
them), it measures:

* TFLite latency at batch 1 and 32, with 1 and 2 interpreter threads (LiteRT's
  interpreter when installed, TensorFlow's otherwise; its default delegates):
  the time of `invoke()` on an input written once before the timing, as
  LiteRT's own `benchmark_model` measures it (a `set_tensor` copy from Python
  would add about 1 µs to every call, sparse or dense);
* SavedModel latency as TF Serving runs it: the graph loaded into a TF
  `Session` (`tf.compat.v1.saved_model.loader.load`) and the
  `serving_default` signature called through the C++ Session's callable, as
  TF Serving calls the C++ Session (`kdticket_tf.SignatureSession`; Python's
  `session.run` would add tens of µs per call), at batch 1 and 32, on one
  thread (TensorFlow's intra- and inter-op pools, process-wide, are sized to
  one before anything runs; the JSON gives each timing's CPU time over wall
  time, `cpu_per_wall`, about 1 on one thread, and the oneDNN variables
  set). The TF2 Python call of a loaded signature adds 0.3 to 2 ms per call
  here, which hides the model; `--saved_model` times it too. A call hands
  the graph to the inter-op pool's thread and waits for it, as TF Serving
  does by default; `--caller_thread` also times the graph run on the calling
  thread (`session_caller_*`), as TF Serving runs it with
  `--tensorflow_intra_op_parallelism=1 --tensorflow_inter_op_parallelism=-1`;
* size on disk, raw and gzipped, of the `.tflite` file and of the SavedModel;
* beside them, the multiply-adds of the network each file holds, over the
  dense model's (`ticket.json`'s `macs`): below 1 only for a compacted channel
  ticket (`<recipe>_compact/<level>`), the one whose layers are narrower; a
  masked ticket runs its dense kernels.

Every round times each model in turn on each setting (interleaved, so a load
that changes during the run weighs on all models alike). A timing is the
median, over groups of calls of about 0.5 ms, of the mean time per call
(`kdticket_tf.median_timer`); a latency is the median of its timings over the
rounds, and a ratio the median over rounds of the model's timing over the
dense model's in the same round;
the JSON gives the ratio's quartiles over the rounds too.
The dense model is the first workdir's.

On a shared machine the CPU itself changes speed from one moment to the next
(on this project's virtual machine it runs most of the time at about half
its full speed), and the sparse kernels, bound by the core's arithmetic, slow
down with it while the dense kernel, bound by memory, hardly does. So each
timing is taken between two probes of the CPU's speed (`kdticket_tf.cpu_speed_probe`:
a fixed pure-Python loop), and every latency is given a second time at full
speed: the median of the timings whose probes were within
`kdticket_tf.CPU_SPEED_TOLERANCE` of the run's fastest probe, and its ratio to the dense
model's latency at full speed. The header says how often the CPU ran at full
speed.
"""

import glob
import gzip
import json
import os
import sys
import tempfile

from absl import app
from absl import flags
import numpy as np

import kdticket_tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable-next=g-import-not-at-top,wrong-import-position
import inference_tables

tf = kdticket_tf.start_tensorflow()
# Before anything runs (here the TF2 load that reads the input shape would size
# the process's pools to every core, and a "one-thread" Session would time the
# dense model on all of them).
kdticket_tf.use_one_thread()

FLAGS = flags.FLAGS
flags.DEFINE_list("workdir", None, "Workdirs whose exported tickets to time.")
flags.DEFINE_string("from_json", None,
                    "Print the tables of a run saved with --format=json "
                    "instead of timing (no --workdir).")
flags.DEFINE_list("recipes", [], "Only these recipes' tickets (default: all).")
flags.DEFINE_list("controls", [],
                  "Workdirs whose dense model is timed beside the tickets as "
                  "a control (a network trained at a ticket's compacted "
                  "widths from the start).")
flags.DEFINE_integer("rounds", 15, "Interleaved rounds.")
flags.DEFINE_float("seconds_per_timing", 0.02,
                   "Approximate length of one timing (calls are repeated).")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes.")
flags.DEFINE_list("threads", ["1", "2"], "TFLite interpreter threads.")
flags.DEFINE_bool("session", True,
                  "Time the SavedModels in a one-thread TF Session, as TF "
                  "Serving runs them.")
flags.DEFINE_bool("caller_thread", False,
                  "Also time the SavedModels in a TF Session that runs the "
                  "graph on the calling thread, as TF Serving does with "
                  "--tensorflow_intra_op_parallelism=1 "
                  "--tensorflow_inter_op_parallelism=-1 (no hand-off to the "
                  "inter-op pool).")
flags.DEFINE_bool("session_floor", False,
                  "Also time, in the same rounds, a serving signature that "
                  "does nothing but reshape its input "
                  "(kdticket_tf.write_empty_signature): the Session call's "
                  "own cost, given in the JSON's meta and the header.")
flags.DEFINE_bool("saved_model", False,
                  "Also time the SavedModels' TF2 signature call (eager).")
flags.DEFINE_bool("default_delegates", True,
                  "Let the TFLite interpreter apply its default delegate "
                  "(XNNPACK); --nodefault_delegates: builtin kernels only.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")


def _label(workdir, single):
  parts = os.path.normpath(workdir).split(os.sep)
  return "" if single else "/".join(parts[-2:]) + ":"


def find_models(workdirs, recipes=(), controls=()):
  """Returns `[{"name", "recipe", "level", "saved_model", "tflite", ...}]`.

  The first workdir's dense model comes first; the other workdirs' dense models
  are left out (a study's arms share one dense run). The dense model of each
  workdir in `controls` comes last, named `control:<its folder>`: a network
  trained at a ticket's compacted widths from the start, timed beside it.
  """
  models = []
  for workdir in controls:
    found = find_models([workdir])[0]
    found["name"] = f"control:{os.path.basename(os.path.normpath(workdir))}"
    found["control"] = True
    models.append(found)
  for index, workdir in enumerate(workdirs):
    layout = kdticket_tf.Layout(workdir)
    for ticket_json in sorted(glob.glob(os.path.join(
        workdir, "export", "serving", "*", "*", "ticket.json"))):
      folder = os.path.dirname(ticket_json)
      ticket = kdticket_tf.read_ticket(folder)
      recipe, level = ticket["recipe"], int(ticket["level"])
      if level == 0 and index:
        continue
      if level and recipes and recipe not in recipes:
        continue
      key = kdticket_tf.StageKey(recipe, level)
      tflite_path = layout.tflite(key)
      name = recipe
      if "compacted_from" in ticket:  # a channel ticket's narrower network
        name, tflite_path = os.path.basename(os.path.dirname(folder)), (
            layout.compact_tflite(key))
      models.append({
          "name": f"{_label(workdir, len(workdirs) == 1)}{name}/{level}",
          "recipe": recipe, "level": level,
          "structure": ticket["config"]["pruning"].get("structure",
                                                       "unstructured"),
          "sparsity": ticket["sparsity"],
          "test_accuracy": ticket.get("test_accuracy"),
          "macs": ticket.get("macs"),  # multiply-adds of the network served
          "saved_model": folder,
          "tflite": tflite_path if os.path.exists(tflite_path) else None,
          "storage": sorted({f"{v['storage']}" for v in
                             (ticket.get("tflite_layers") or {}).values()}),
      })
  models.sort(key=lambda m: (m.get("control", False), m["level"] > 0,
                            m["name"]))
  if not models or models[0]["level"] != 0:
    raise ValueError(f"{workdirs[0]} has no exported dense model; export it "
                     "with tools/export_ticket.py --all --tflite.")
  return models


def _folder_bytes(folder):
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(folder) for name in names)


def sizes(model):
  """Raw and gzipped sizes of the model's TFLite file and SavedModel."""
  result = {"saved_model_bytes": _folder_bytes(model["saved_model"]),
            "saved_model_gzip_bytes":
                kdticket_tf.gzip_size(model["saved_model"])}
  if model["tflite"]:
    with open(model["tflite"], "rb") as stream:
      content = stream.read()
    result["tflite_bytes"] = len(content)
    result["tflite_gzip_bytes"] = len(gzip.compress(content, 9, mtime=0))
  return result


def _tflite_call(path, batch, threads, images):
  """`invoke` on an input written once, as LiteRT's `benchmark_model` times."""
  runner = kdticket_tf.tflite_interpreter(path, threads, batch,
                                          FLAGS.default_delegates)
  runner.set_tensor(runner.get_input_details()[0]["index"], images[:batch])
  return runner.invoke


def _saved_model_call(folder, batch, images):
  loaded = tf.saved_model.load(folder)
  serve = loaded.signatures[kdticket_tf.SIGNATURE]
  data = tf.constant(images[:batch])

  def call():
    serve(images=data)["logits"].numpy()
  call.loaded = loaded  # keeps the variables alive
  return call


def _session_call(folder, batch, images, caller_thread=False):
  """The serving signature called in a TF `Session` (one intra-op thread),
  through the inter-op pool or, with `caller_thread`, on the calling one."""
  session = kdticket_tf.SignatureSession(folder, caller_thread=caller_thread)
  batch_images = np.ascontiguousarray(images[:batch])

  def call():
    session(batch_images)
  call.session = session  # kept open while the timer lives
  return call


EMPTY_SIGNATURE = "(empty signature)"


def _empty_signature(dense, root):
  """A model row for `write_empty_signature`, shaped as `dense`'s input and
  output, written under `root`; timed in a Session only."""
  with kdticket_tf.SignatureSession(dense["saved_model"]) as session:
    input_shape, (classes,) = session.input_shape, session.output_shape
  folder = os.path.join(root, "0")
  kdticket_tf.write_empty_signature(folder, input_shape, classes)
  return {"name": EMPTY_SIGNATURE, "saved_model": folder, "tflite": None,
          "macs": None}


def settings():
  """The (kind, batch, threads) timed for each model."""
  batches = [int(b) for b in FLAGS.batch_sizes]
  result = [("tflite", b, int(t)) for b in batches for t in FLAGS.threads]
  if FLAGS.session:
    result += [("session", b, 1) for b in batches]
  if FLAGS.caller_thread:
    result += [(inference_tables.CALLER_THREAD, b, 1) for b in batches]
  if FLAGS.saved_model:
    result += [("saved_model", b, None) for b in batches]
  return result


def benchmark(models, rounds, seconds):
  """Times every model on every setting; returns per-model results."""
  loaded = tf.saved_model.load(models[0]["saved_model"])
  spec = loaded.signatures[kdticket_tf.SIGNATURE].structured_input_signature
  shape = list(next(iter(spec[1].values())).shape[1:])
  del loaded
  images = np.random.default_rng(0).integers(
      0, 256, size=[max(int(b) for b in FLAGS.batch_sizes)] + shape).astype(
          np.float32)
  timers = {}
  for model in models:
    for kind, batch, threads in settings():
      if kind == "tflite" and model["tflite"]:
        call = _tflite_call(model["tflite"], batch, threads, images)
      elif kind == "saved_model":
        call = _saved_model_call(model["saved_model"], batch, images)
      elif kind in ("session", inference_tables.CALLER_THREAD):
        call = _session_call(
            model["saved_model"], batch, images,
            caller_thread=kind == inference_tables.CALLER_THREAD)
      else:
        continue
      timers[(model["name"], kind, batch, threads)] = (
          kdticket_tf.median_timer(call, seconds))
  # busy: CPU time over wall time, the threads a timing kept busy.
  times, probes, busy = kdticket_tf.interleaved_timings(timers, rounds)
  fastest = min(min(min(pair) for pair in found) for found in probes.values())
  full = {key: np.asarray(times[key])[
      kdticket_tf.at_full_speed(probes[key], fastest)]
          for key in times}
  dense = models[0]["name"]
  results = []
  for model in models:
    row = dict(model, **sizes(model), latency={}, full_speed_latency={},
               macs_ratio=(model["macs"] / models[0]["macs"]
                           if model["macs"] and models[0]["macs"] else None))
    for kind, batch, threads in settings():
      key = (model["name"], kind, batch, threads)
      if key not in times:
        continue
      base = (dense, kind, batch, threads)
      label = f"{kind}_b{batch}" + (f"_t{threads}" if threads else "")
      # A model the dense one has no file for (a compacted ticket's TFLite
      # file beside a dense model exported without one) has no ratio.
      ratios = np.divide(times[key], times[base]) if base in times else None
      row["latency"][label] = {
          "seconds": float(np.median(times[key])),
          "ratio_to_dense": (None if ratios is None else
                             float(np.median(ratios))),
          "ratio_quartiles": (None if ratios is None else
                              [float(q) for q in np.percentile(ratios,
                                                               [25, 75])]),
          "cpu_per_wall": float(np.median(busy[key])),
      }
      found, reference = full[key], full.get(base, np.empty(0))
      row["full_speed_latency"][label] = {
          "seconds": float(np.median(found)) if found.size else None,
          "ratio_to_dense": (float(np.median(found) / np.median(reference))
                             if found.size and reference.size else None),
          "timings": int(found.size),
      }
    results.append(row)
  all_probes = np.concatenate([np.ravel(p) for p in probes.values()])
  cpu = {"fastest_probe_seconds": fastest,
         "median_probe_over_fastest": float(np.median(all_probes) / fastest),
         "full_speed_fraction": (sum(f.size for f in full.values()) /
                                 sum(len(t) for t in times.values())),
         "tolerance": kdticket_tf.CPU_SPEED_TOLERANCE}
  return results, cpu


def main(argv):
  del argv
  if bool(FLAGS.workdir) == bool(FLAGS.from_json):
    print("benchmark_inference: error: give --workdir (workdirs to time) or "
          "--from_json (a saved run to print), not both or neither.",
          file=sys.stderr)
    return 1
  if FLAGS.from_json:
    with open(FLAGS.from_json, encoding="utf-8") as stream:
      saved = json.load(stream)
    print(inference_tables.report(saved["meta"], saved["models"]))
    return 0
  try:
    models = find_models(FLAGS.workdir, FLAGS.recipes, FLAGS.controls)
    with tempfile.TemporaryDirectory(prefix="kdticket_empty_") as root:
      if FLAGS.session_floor:
        models.append(_empty_signature(models[0], root))
      results, cpu = benchmark(models, FLAGS.rounds,
                               FLAGS.seconds_per_timing)
  except ValueError as error:  # refused before any timing
    print(f"benchmark_inference: error: {error}", file=sys.stderr)
    return 1
  interpreter = kdticket_tf.tflite_interpreter_class()
  meta = {"interpreter": f"{interpreter.__module__}.{interpreter.__name__}",
          "default_delegates": FLAGS.default_delegates,
          "tensorflow_version": tf.__version__, "rounds": FLAGS.rounds,
          "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
          "tensorflow_threads": kdticket_tf.tensorflow_threads(),
          "onednn_settings": kdticket_tf.onednn_settings(),
          "cpu_speed": cpu}
  if FLAGS.session_floor:  # a reference for the header, not a model
    meta["session_floor"] = results.pop()["latency"]
  if FLAGS.format == "json":
    print(json.dumps({"meta": meta, "models": results}, indent=2))
  else:
    print(inference_tables.report(meta, results))
  return 0


if __name__ == "__main__":
  app.run(main)
