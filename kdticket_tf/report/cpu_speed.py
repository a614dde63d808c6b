"""The CPU's own speed during a benchmark, read off a fixed scalar workload.

On a shared machine (a virtual machine whose core is shared with another
tenant's hyperthread, say) the CPU runs some of the time at full speed and the
rest slower, in phases of tens to hundreds of milliseconds. Kernels that are
bound by the core's arithmetic (TFLite's sparse FULLY_CONNECTED) slow down
with it; kernels bound by memory (a dense matrix-vector product streaming its
weights) hardly do, so the ratio of the two drifts with the machine's load,
not with the models.

`probe()` times a fixed pure-Python loop, which is bound by the core alone. A
benchmark probes before and after each timing; `at_full_speed` keeps the
timings whose probes are as fast as the fastest seen in the run, within a
tolerance, so a latency can be given both over all timings and at full speed.
"""

import time

import numpy as np

# Probes slower than this times the run's fastest probe mark a timing as taken
# below full speed (in the slow phases seen on this project's machine the
# probe takes 1.75 to 1.9 times its fastest).
TOLERANCE = 1.25


def _workload(count=2000):
  total = 0
  for value in range(count):
    total += value * value
  return total


def probe(repeats=3):
  """Seconds of the reference workload: the fastest of `repeats` runs.

  The fastest, so that a preemption during one run is not read as a slow CPU.
  """
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    _workload()
    best = min(best, time.perf_counter() - start)
  return best


def at_full_speed(probes, fastest=None, tolerance=TOLERANCE):
  """Which timings ran at full speed, from the probes around each.

  Args:
    probes: `[n, k]` probe times, the k probes taken around each of n timings
      (or `[n]`, one probe each).
    fastest: The run's fastest probe (default: the minimum of `probes`).
    tolerance: A timing is at full speed when all its probes are at most
      `tolerance` times `fastest`.

  Returns:
    A boolean array of length n.
  """
  probes = np.asarray(probes, dtype=float)
  if probes.ndim == 1:
    probes = probes[:, None]
  if fastest is None:
    fastest = float(probes.min()) if probes.size else 0.0
  return np.all(probes <= tolerance * fastest, axis=1)
