"""The tables of `tools/benchmark_inference.py`, from its JSON results.

`report(meta, results)` renders a run (timed now, or saved with
`--format=json`) as text: the latency table with ratios to dense, the spread of
the TFLite ratios over the rounds, and the latency at full CPU speed.
"""

import kdticket_tf


def to_markdown(results, latency="latency"):
  """The results as a Markdown table: latency (µs) with ratio, sizes (KiB).

  `latency` is the row's field to show: `latency` (all timings) or
  `full_speed_latency`.
  """
  labels = list(results[0][latency])
  dense = results[0]
  head = ["model", "structure", "sparsity", "multiply-adds",
          "TFLite storage"] + [
      label.replace("tflite_", "TFLite ").replace("saved_model_", "SavedModel ")
      .replace("session_", "TF Session ").replace("_t", " t")
      for label in labels] + [
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


def report(meta, results):
  """The run as text: its setting, then the three tables."""
  cpu = meta["cpu_speed"]
  delegates = "" if meta["default_delegates"] else " (builtin kernels only)"
  return "\n".join([
      f"Interpreter: {meta['interpreter']}{delegates}; {meta['rounds']} "
      f"interleaved rounds; load average {meta['load_average'][0]:.1f} on "
      f"{meta['cpus']} CPUs. Latency: median over rounds (ratio to dense, "
      "median of per-round ratios).\n",
      to_markdown(results),
      "Spread of the TFLite ratios over the rounds (quartiles):\n",
      spread_table(results),
      f"At full CPU speed ({100 * cpu['full_speed_fraction']:.0f}% of the "
      "timings; the CPU's median speed was "
      f"{1 / cpu['median_probe_over_fastest']:.2f} of its fastest): median "
      "of those timings (ratio to the dense model's).\n",
      to_markdown(results, "full_speed_latency")])
