"""Latency of a call as a benchmark on a shared machine can trust it.

A preemption by another process stretches the calls it lands on. Timing calls
in groups of about half a millisecond and taking the median of the groups'
mean call times leaves a preempted group out instead of averaging it in.
"""

import time

import numpy as np

from kdticket_tf.report import cpu_speed

GROUP_SECONDS = 0.0005  # the length of a group of calls


def median_timer(call, seconds):
  """A function that times `call` for about `seconds`: seconds per call.

  `call` runs once to warm up and for at least 5 ms to size its groups. Each
  call of the returned function times at least 5 groups of about
  `GROUP_SECONDS` and returns the median of their mean call times.
  """
  call()  # warm up
  start = time.perf_counter()
  calls = 0
  while time.perf_counter() - start < 0.005 or calls < 3:
    call()
    calls += 1
  per_call = (time.perf_counter() - start) / calls
  group = max(1, int(GROUP_SECONDS / per_call))
  groups = max(5, int(seconds / (group * per_call)))

  def timed():
    found = []
    for _ in range(groups):
      begin = time.perf_counter()
      for _ in range(group):
        call()
      found.append((time.perf_counter() - begin) / group)
    return float(np.median(found))
  return timed


def probed(timed):
  """Runs `timed()` between two CPU speed probes.

  Returns:
    `(seconds, probes, cpu_per_wall)`: what `timed` returned, the probes
    before and after (`cpu_speed.probe`), and the process's CPU time over the
    wall time of the timing (about 1 for one busy thread, more for more).
  """
  before = cpu_speed.probe()
  cpu, wall = time.process_time(), time.perf_counter()
  seconds = timed()
  busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
  return seconds, (before, cpu_speed.probe()), busy


def interleaved(timers, rounds):
  """Times every timer of `timers` once per round, in turn, for `rounds`.

  Interleaved, a load that changes during the run weighs on every timer
  alike. Each timing runs between two CPU speed probes (`probed`).

  Args:
    timers: `{key: timed}`, each `timed()` returning seconds per call (as
      `median_timer` makes them).
    rounds: How many times each is timed.

  Returns:
    `(times, probes, busy)`: for each key, its timings, the probes around
    each (pairs) and each timing's CPU time over wall time, in round order.
  """
  times = {key: [] for key in timers}
  probes = {key: [] for key in timers}
  busy = {key: [] for key in timers}
  for _ in range(rounds):
    for key, timed in timers.items():
      seconds, around, cpu_per_wall = probed(timed)
      times[key].append(seconds)
      probes[key].append(around)
      busy[key].append(cpu_per_wall)
  return times, probes, busy
