r"""Wall time of a search on local workers against the sequential executor.

    python tools/benchmark_executors.py --config=configs/quickstart.flags \
        --pairs=3 --workers=2 --json_out=executors.json

Runs the trainer on the flagfile `--pairs` times each way, sequential and
`--executor=local --workers=N`, interleaved (the order alternates from pair to
pair, so a drift in the machine's speed falls on both), each in a fresh
workdir, and prints the wall time of every run and the ratio local / sequential
of each pair, with the median over the pairs. Flags after `--` go to every run.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "The trainer's flagfile.")
flags.mark_flag_as_required("config")
flags.DEFINE_integer("pairs", 3, "Interleaved (sequential, local) pairs.")
flags.DEFINE_integer("workers", 2, "Local worker processes.")
flags.DEFINE_string("json_out", None, "Also write the figures here as JSON.")
flags.DEFINE_string("keep_dir", None,
                    "Keep every run's workdir under this folder (default: "
                    "deleted after timing).")


def _run(flagfile, workdir, extra):
  started = time.monotonic()
  result = subprocess.run(
      [sys.executable, "-m", "kdticket_tf.train", f"--flagfile={flagfile}",
       f"--workdir={workdir}", *extra], capture_output=True, text=True,
      check=False)
  seconds = time.monotonic() - started
  if result.returncode:
    raise RuntimeError(f"{workdir} failed: {result.stderr[-2000:]}")
  return seconds


def main(argv):
  extra = argv[1:]
  ways = {"sequential": ["--executor=sequential"],
          "local": ["--executor=local", f"--workers={FLAGS.workers}"]}
  folder = FLAGS.keep_dir or tempfile.mkdtemp(
      prefix="kdticket_executors_benchmark_")
  os.makedirs(folder, exist_ok=True)
  pairs = []
  try:
    for index in range(FLAGS.pairs):
      order = ["sequential", "local"] if index % 2 == 0 else ["local",
                                                             "sequential"]
      seconds = {}
      for way in order:
        workdir = os.path.join(folder, f"{way}_{index}")
        if os.path.exists(workdir):
          raise RuntimeError(f"{workdir} exists; give an empty --keep_dir.")
        seconds[way] = _run(FLAGS.config, workdir, extra + ways[way])
        if not FLAGS.keep_dir:
          shutil.rmtree(workdir, ignore_errors=True)
      ratio = seconds["local"] / seconds["sequential"]
      pairs.append(dict(seconds, ratio=ratio, first=order[0]))
      print(f"pair {index + 1}: sequential {seconds['sequential']:.1f} s, "
            f"local ({FLAGS.workers} workers) {seconds['local']:.1f} s, "
            f"ratio {ratio:.3f}", flush=True)
  finally:
    if not FLAGS.keep_dir:
      shutil.rmtree(folder, ignore_errors=True)
  median = statistics.median(p["ratio"] for p in pairs)
  print(f"{FLAGS.config}: local/sequential wall time, median of "
        f"{len(pairs)} pairs: {median:.3f}")
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w", encoding="utf-8") as stream:
      json.dump({"config": FLAGS.config, "workers": FLAGS.workers,
                 "extra_flags": extra, "cpus": os.cpu_count(),
                 "pairs": pairs, "median_ratio": median}, stream, indent=2)
  return 0


if __name__ == "__main__":
  app.run(main)
