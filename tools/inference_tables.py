"""The tables of `tools/benchmark_inference.py`, from its JSON results.

`report(meta, results)` renders a run (timed now, or saved with
`--format=json`) as text: the latency table with ratios to dense, the spread of
the TFLite ratios over the rounds, and the latency at full CPU speed.
`profile_table(models)` renders `tools/session_profile.py`'s time per layer.
"""

import os

import kdticket_tf

# The timing kind of `--caller_thread` (the Session on the calling thread);
# its labels are `session_caller_b<batch>_t1`.
CALLER_THREAD = "session_caller"


def column(label, threads=True):
  """A timing's column head: `tflite_b1_t2` -> `TFLite b1 t2`,
  `session_caller_b32_t1` -> `TF Session, caller's thread, b32 t1`; without
  `threads`, no `t1` (one thread: the tables' every timing)."""
  if not threads:
    label = label.removesuffix("_t1")
  return (label.replace("tflite_", "TFLite ")
          .replace("saved_model_", "SavedModel ")
          .replace(CALLER_THREAD + "_", "TF Session, caller's thread, ")
          .replace("session_", "TF Session ").replace("_t", " t"))


def to_markdown(results, latency="latency"):
  """The results as a Markdown table: latency (µs) with ratio, sizes (KiB).

  `latency` is the row's field to show: `latency` (all timings) or
  `full_speed_latency`.
  """
  labels = list(results[0][latency])
  dense = results[0]
  head = ["model", "structure", "sparsity", "multiply-adds",
          "TFLite storage"] + [column(label) for label in labels] + [
          "TFLite KiB (gzip)", "SavedModel KiB gzip"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for row in results:
    cells = [row["name"], row["structure"] if row["level"] else "dense",
             f"{100 * row['sparsity']:.0f}%",
             "" if row.get("macs_ratio") is None else
             f"{row['macs_ratio']:.2f}x", ", ".join(row["storage"])]
    cells += [kdticket_tf.results.latency_cell(row[latency].get(label), " µs")
              for label in labels]
    tfl = (f"{row['tflite_bytes'] / 1024:.0f} ({row['tflite_gzip_bytes'] / 1024:.0f})"
           if row.get("tflite_bytes") else "")
    ratio = row["saved_model_gzip_bytes"] / dense["saved_model_gzip_bytes"]
    cells += [tfl, f"{row['saved_model_gzip_bytes'] / 1024:.0f} ({ratio:.2f})"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def spread_table(results):
  """The quartiles over rounds of each TFLite ratio to dense."""
  labels = [label for label in results[0]["latency"]
            if label.startswith("tflite_")]
  head = ["model"] + [label.replace("tflite_", "TFLite ").replace("_t", " t")
                      for label in labels]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for row in results:
    cells = [row["name"]]
    for label in labels:
      value = row["latency"].get(label)
      cells.append("–" if value is None or value["ratio_quartiles"] is None
                   else "{:.2f} – {:.2f}".format(*value["ratio_quartiles"]))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def session_busy(results):
  """The CPU time over wall time (`cpu_per_wall`) of every Session timing."""
  return [value["cpu_per_wall"] for row in results
          for label, value in row["latency"].items()
          if label.startswith("session") and "cpu_per_wall" in value]


def busy_range(busy):
  """`a to b`: the fewest and most CPUs a set of timings kept busy."""
  return f"{min(busy):.2f} to {max(busy):.2f}"


def threads_line(meta, results):
  """How many threads the TF Session timings had, and used; "" if untold."""
  threads = meta.get("tensorflow_threads")
  busy = session_busy(results)
  if not threads or not busy:
    return ""
  return (f" TensorFlow: {threads['intra_op']} intra-op and "
          f"{threads['inter_op']} inter-op thread(s); its Session timings "
          f"kept {busy_range(busy)} CPUs busy.{onednn_line(meta)}")


def onednn_line(meta):
  """The oneDNN settings the environment gave TensorFlow, or "" (defaults)."""
  settings = meta.get("onednn_settings")
  if not settings:
    return ""
  return (" oneDNN set by the environment: " +
          ", ".join(f"{name}={value}" for name, value in settings.items()) +
          ".")


def floor_line(meta):
  """The Session call's own cost (`--session_floor`), or ""."""
  floor = meta.get("session_floor")
  if not floor:
    return ""

  def where(label):
    return (" on the caller's thread" if label.startswith(CALLER_THREAD)
            else "")

  cells = ", ".join(
      f"{1e6 * value['seconds']:.1f} µs at batch "
      f"{label.split('_b')[1].split('_')[0]}{where(label)}"
      f" ({value['ratio_to_dense']:.2f} of dense)"
      for label, value in floor.items())
  return (" An empty serving signature, which only reshapes its input, takes "
          f"{cells} per TF Session call: the call's own cost.")


def report(meta, results):
  """The run as text: its setting, then the three tables."""
  cpu = meta["cpu_speed"]
  delegates = "" if meta["default_delegates"] else " (builtin kernels only)"
  return "\n".join([
      f"Interpreter: {meta['interpreter']}{delegates}; {meta['rounds']} "
      f"interleaved rounds; load average {meta['load_average'][0]:.1f} on "
      f"{meta['cpus']} CPUs.{threads_line(meta, results)}{floor_line(meta)}"
      " Latency: median "
      "over rounds (ratio to dense, median of per-round ratios).\n",
      to_markdown(results),
      "Spread of the TFLite ratios over the rounds (quartiles):\n",
      spread_table(results),
      f"At full CPU speed ({100 * cpu['full_speed_fraction']:.0f}% of the "
      "timings; the CPU's median speed was "
      f"{1 / cpu['median_probe_over_fastest']:.2f} of its fastest): median "
      "of those timings (ratio to the dense model's).\n",
      to_markdown(results, "full_speed_latency")])


def _served_name(folder):
  """`<workdir>:<model>/<version>` of an exported ticket's folder (the
  workdir's last name); the folder as given when it is not in that layout or
  names no workdir."""
  served = kdticket_tf.parse_serving_path(folder)
  if served is None or not served[0]:
    return folder
  workdir, model, version = served
  return f"{os.path.basename(workdir)}:{model}/{version}"


def profile_caption(meta, models):
  """What a profile's table holds and how it was taken: one paragraph."""
  threads = meta["tensorflow_threads"]
  busy = [value for row in models for value in row["cpu_per_wall"]]
  return (f"µs per call at batch {meta['batch_size']} in a TF Session on "
          f"{threads['intra_op']} intra-op and {threads['inter_op']} inter-op "
          f"thread(s) (the untraced calls kept {busy_range(busy)} CPUs "
          "busy): each layer's time the median over "
          f"{meta['runs']} traced calls, the untraced call the median of "
          f"{meta['rounds']} interleaved timings (ratio to the first "
          "model's). CPU speed probe "
          f"{1e3 * meta['fastest_probe_seconds']:.3f} to "
          f"{1e3 * meta['slowest_probe_seconds']:.3f} ms; load average "
          f"{meta['load_average'][0]:.1f} on {meta['cpus']} CPUs."
          f"{onednn_line(meta)}")


def profile_table(models):
  """Markdown: µs per call of each layer group (ratio to the first model's)."""
  first = models[0]["groups"]
  names = sorted({g for row in models for g in row["groups"]},
                 key=lambda g: (g.startswith("("), -first.get(g, 0.0), g))

  def cell(value, reference):
    ratio = f" ({value / reference:.2f})" if reference else ""
    return f"{1e6 * value:.0f}{ratio}"

  lines = ["| layers | " + " | ".join(_served_name(row["saved_model"])
                                     for row in models) + " |",
           "|---|" + "---|" * len(models)]
  totals = [("traced total", [sum(r["groups"].values()) for r in models]),
            ("untraced call", [r["seconds_per_call"] for r in models])]
  rows = [(name, [r["groups"].get(name, 0.0) for r in models])
          for name in names] + totals
  for label, values in rows:
    lines.append(f"| {label} | " + " | ".join(
        cell(v, values[0] if i else None) for i, v in enumerate(values)) +
                 " |")
  return "\n".join(lines) + "\n"
