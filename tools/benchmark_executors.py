r"""Wall time of searches on local workers against the sequential executor.

    python tools/benchmark_executors.py --pairs=3 --workers=2 \
        --json_out=executors.json

Runs the trainer on each `--search` (a flagfile and its own flags) `--pairs`
times each way, sequential and `--executor=local --workers=N`, interleaved
(the order alternates from pair to pair, so a drift in the machine's speed
falls on both), each in a fresh workdir, and prints the wall time of every run
and the ratio local / sequential of each pair, with the median over the pairs.
By default, two searches: the quickstart's first two levels (5 trainings of 8
epochs), where the workers' start-up weighs most, and the whole quickstart
(23 trainings). Flags after `--` go to every run.
"""

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_multi_string(
    "search", ["configs/quickstart.flags --levels=2 --epochs=8 --export=false",
               "configs/quickstart.flags"],
    "A search to time: the trainer's flagfile, then flags of its own.")
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


def _time_search(number, search, extra, folder, record):
  """Times one search in interleaved pairs; returns its figures.

  `record(figures)` is called after each pair with the figures so far.
  """
  flagfile, *own = shlex.split(search)
  ways = {"sequential": ["--executor=sequential"],
          "local": ["--executor=local", f"--workers={FLAGS.workers}"]}
  pairs = []
  for index in range(FLAGS.pairs):
    order = ["sequential", "local"] if index % 2 == 0 else ["local",
                                                           "sequential"]
    seconds = {}
    for way in order:
      workdir = os.path.join(folder, f"search{number}_{way}_{index}")
      if os.path.exists(workdir):
        raise RuntimeError(f"{workdir} exists; give an empty --keep_dir.")
      seconds[way] = _run(flagfile, workdir, own + extra + ways[way])
      if not FLAGS.keep_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = seconds["local"] / seconds["sequential"]
    pairs.append(dict(seconds, ratio=ratio, first=order[0]))
    print(f"{search}: pair {index + 1}: sequential "
          f"{seconds['sequential']:.1f} s, local ({FLAGS.workers} workers) "
          f"{seconds['local']:.1f} s, ratio {ratio:.3f}", flush=True)
    record({"search": search, "pairs": pairs,
            "median_ratio": statistics.median(p["ratio"] for p in pairs)})
  median = statistics.median(p["ratio"] for p in pairs)
  print(f"{search}: local/sequential wall time, median of {len(pairs)} "
        f"pairs: {median:.3f}", flush=True)
  return {"search": search, "pairs": pairs, "median_ratio": median}


def main(argv):
  extra = argv[1:]
  folder = FLAGS.keep_dir or tempfile.mkdtemp(
      prefix="kdticket_executors_benchmark_")
  os.makedirs(folder, exist_ok=True)
  searches = []

  def record(figures):
    """Writes the figures so far, so a run stopped early keeps its pairs."""
    if FLAGS.json_out:
      with open(FLAGS.json_out, "w", encoding="utf-8") as stream:
        json.dump({"workers": FLAGS.workers, "extra_flags": extra,
                   "cpus": os.cpu_count(), "searches": searches + [figures]},
                  stream, indent=2)

  try:
    for number, search in enumerate(FLAGS.search):
      searches.append(_time_search(number, search, extra, folder, record))
  finally:
    if not FLAGS.keep_dir:
      shutil.rmtree(folder, ignore_errors=True)
  return 0


if __name__ == "__main__":
  app.run(main)
