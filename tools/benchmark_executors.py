r"""Wall time of searches on local workers against the sequential executor.

    python tools/benchmark_executors.py --pairs=3 --workers=2 \
        --json_out=executors.json

Runs the trainer on each `--search` (a flagfile and its own flags) `--pairs`
times each way (3 by default), sequential and `--executor=local --workers=N`,
interleaved (the order alternates from pair to pair, so a drift in the
machine's speed falls on both), each in a fresh workdir, and prints the wall
time of every run and the ratio local / sequential of each pair. Each search
ends with the ratio's spread over its pairs: median, mean ± sample standard
deviation and min-max; over fewer than 3 pairs the line says it is no figure
to quote. `--json_out` holds them as `ratio`, written after every pair, so a
run stopped early keeps the pairs it finished. By default, two searches: the
quickstart's first two levels (5 trainings of 8 epochs), where the workers'
start-up weighs most, and the whole quickstart (23 trainings). Flags after
`--` go to every run.
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
flags.DEFINE_integer(
    "pairs", 3, "Interleaved (sequential, local) pairs per search; a spread "
    "worth quoting needs 3 or more.", lower_bound=1)
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


def _spread(ratios):
  """The ratios' median, mean, sample standard deviation, min and max.

  Args:
    ratios: The local / sequential ratio of each pair.

  Returns:
    A dict of those (`std` None for a single pair) and `pairs`, their count.
  """
  return {"pairs": len(ratios), "median": statistics.median(ratios),
          "mean": statistics.mean(ratios),
          "std": statistics.stdev(ratios) if len(ratios) > 1 else None,
          "min": min(ratios), "max": max(ratios)}


def _spread_text(ratio):
  """`_spread`'s figures as one line, e.g. `median 0.650, mean 0.648 ± ...`."""
  std = "n/a (one pair)" if ratio["std"] is None else f"{ratio['std']:.3f}"
  return (f"median {ratio['median']:.3f}, mean {ratio['mean']:.3f} ± {std}, "
          f"min-max {ratio['min']:.3f}-{ratio['max']:.3f}")


def _figures(search, pairs):
  ratio = _spread([p["ratio"] for p in pairs])
  return {"search": search, "pairs": pairs, "ratio": ratio,
          "median_ratio": ratio["median"]}


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
    record(_figures(search, pairs))
  figures = _figures(search, pairs)
  count = f"{len(pairs)} pair" + ("s" if len(pairs) > 1 else "")
  few = "; fewer than 3 pairs, no figure to quote" if len(pairs) < 3 else ""
  print(f"{search}: local/sequential wall time over {count}: "
        f"{_spread_text(figures['ratio'])}{few}", flush=True)
  return figures


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
