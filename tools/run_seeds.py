r"""Runs one flagfile over several seeds, each in its own workdir, resumably.

    python tools/run_seeds.py --config=configs/study_a_lenet_oneshot.flags \
        --seeds=0,1,2 --workdir=workdirs/study_a --parallel=2
    python tools/results_table.py --seeds workdirs/study_a/seed_*

Seed S runs `python -m kdticket_tf.train --flagfile=CONFIG --seed=S
--workdir=DIR/seed_S` followed by any flags given after `--`, its output in
`DIR/seed_S.log`. Rerunning the command resumes every seed: finished stages are
skipped, interrupted ones continue from their last epoch, and each run's output
goes on at the end of the seed's log after a line that says when it started
(an earlier run's log is never overwritten); a seed named twice runs once.
`--parallel=N` runs N seeds at once, each with 1/N of the CPU threads
(`TF_NUM_INTRAOP_THREADS`); flags after `--` such as `--executor=local
--workers=2` spread each seed's own stages.
"""

import datetime
import os
import shlex
import subprocess
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "The trainer's flagfile.")
flags.mark_flag_as_required("config")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run.")
flags.DEFINE_string("workdir", None, "Parent folder; seed S goes in seed_S.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_integer("parallel", 1, "Seeds run at once.")


def _commands(flagfile, seeds, workdir, extra):
  for seed in seeds:
    folder = os.path.join(workdir, f"seed_{seed}")
    yield seed, folder, [sys.executable, "-m", "kdticket_tf.train",
                         f"--flagfile={flagfile}", f"--seed={seed}",
                         f"--workdir={folder}", *extra]


def _open_log(path, command):
  """Opens a seed's log for appending, after a line that starts this run."""
  log = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
  started = datetime.datetime.now().isoformat(timespec="seconds")
  log.write(f"=== run_seeds {started}: {shlex.join(command)}\n")
  log.flush()  # before the trainer's output, which goes on after it
  return log


def run_seeds(flagfile, seeds, workdir, extra=(), parallel=1):
  """Runs the trainer once per seed, `parallel` at a time.

  Each seed's output goes on at the end of `workdir/seed_S.log`.

  Returns:
    `{seed: exit status}`.
  """
  seeds = list(dict.fromkeys(seeds))  # one process per workdir and log
  os.makedirs(workdir, exist_ok=True)
  threads = max(1, (os.cpu_count() or 1) // max(parallel, 1))
  env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(threads),
             TF_NUM_INTEROP_THREADS="1") if parallel > 1 else dict(os.environ)
  pending = list(_commands(flagfile, seeds, workdir, list(extra)))
  running, statuses, started = {}, {}, time.time()
  while pending or running:
    while pending and len(running) < parallel:
      seed, folder, command = pending.pop(0)
      log = _open_log(f"{folder}.log", command)
      running[seed] = (subprocess.Popen(command, stdout=log,
                                        stderr=subprocess.STDOUT, env=env),
                       log, folder)
      print(f"seed {seed}: started, log in {folder}.log", flush=True)
    time.sleep(1.0)
    for seed, (process, log, folder) in list(running.items()):
      if process.poll() is None:
        continue
      log.close()
      del running[seed]
      statuses[seed] = process.returncode
      state = ("done" if process.returncode == 0 else
               f"failed (exit {process.returncode}; see {folder}.log)")
      print(f"seed {seed}: {state} after {time.time() - started:.0f}s",
            flush=True)
  return statuses


def main(argv):
  flagfile = FLAGS.config
  if not os.path.exists(flagfile):
    print(f"run_seeds: error: --config={flagfile} does not exist.",
          file=sys.stderr)
    return 1
  if FLAGS.parallel < 1:
    raise app.UsageError(f"--parallel={FLAGS.parallel} must be at least 1.")
  statuses = run_seeds(flagfile, FLAGS.seeds, FLAGS.workdir, argv[1:],
                       FLAGS.parallel)
  return 0 if all(status == 0 for status in statuses.values()) else 1


if __name__ == "__main__":
  app.run(main)
