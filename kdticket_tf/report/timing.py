"""Latency of a call as a benchmark on a shared machine can trust it.

A preemption by another process stretches the calls it lands on. Timing calls
in groups of about half a millisecond and taking the median of the groups'
mean call times leaves a preempted group out instead of averaging it in.
"""

import time

import numpy as np

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
