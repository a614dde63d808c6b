"""The coordinator's progress line: a stage's result, what runs, the time left.

The time left is estimated from the seconds per optimizer step of the stages
finished so far: the work not yet started, half of what is running, shared
out over the running stages, and never less than the longest chain of stages
still to run (`Graph.critical_path`).
"""

from kdticket_tf.store import layout as layout_lib


def time_left(graph, rows, steps, finished, started, skipped):
  """Returns (seconds left, the stages running) of a search.

  Args:
    graph: The search's `Graph`.
    rows: `{key: row}` of the stages with a row (finished or failed).
    steps: `steps(key)`, the optimizer steps stage `key` trains.
    finished: The finished stages.
    started: The stages submitted so far (finished ones included).
    skipped: The stages skipped because a stage they need failed.
  """
  timed = [r for k, r in rows.items() if k in finished and r.get("seconds")]
  per_step = (sum(r["seconds"] for r in timed) /
              sum(steps(layout_lib.StageKey(r["recipe"], r["level"]))
                  for r in timed)) if timed else 0.0
  remaining = [k for k in graph.keys if k not in started]
  running = [k for k in started if k not in finished and
             k not in rows and k not in skipped]
  work = per_step * (sum(steps(k) for k in remaining) +
                     0.5 * sum(steps(k) for k in running))
  chain = graph.critical_path(
      lambda k: 0.0 if k in finished or k in rows or k in skipped
      else per_step * steps(k))
  return max(work / max(1, len(running) + 1), chain), running


def line(row, levels, elapsed, left_and_running):
  """Returns the progress line of a stage's `row`."""
  left, running = left_and_running
  accuracy = row.get("test_accuracy")
  return (
      f"{row['recipe']:<14s} level {row['level']}/{levels}  weights remaining "
      f"{100.0 * (row.get('weights_remaining') or 0.0):6.2f}%  test accuracy "
      f"{'n/a' if accuracy is None else f'{100.0 * accuracy:.2f}%'}  "
      f"elapsed {elapsed:.0f}s  about {left:.0f}s left" +
      (f"  running: {', '.join(map(str, running))}" if running else ""))
