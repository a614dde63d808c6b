"""What becomes of a stage submitted to an executor, and how a worker runs it.

`run_stage` runs a stage holding its lock, and names the stage in the error
of a file it could not write; `run_in_worker` turns what happens in a worker
into an `Outcome`: a row, a failure (the stage could not finish), or an error
the user must fix (the search stops: a diverged training, a full disk, ...).
"""

import dataclasses
import sys
import traceback
from typing import Optional

from kdticket_tf.run import stage_lock
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib

# Errors a user must fix: the search stops on them, whichever stage meets them.
USER_ERRORS = (ValueError, OSError)


@dataclasses.dataclass
class Outcome:
  """What became of a submitted stage.

  Attributes:
    key: The stage.
    row: Its result row.
    failure: Why it could not finish, when it has no row.
    error: A problem the user must fix; the search stops.
  """
  key: layout_lib.StageKey
  row: Optional[dict] = None
  failure: Optional[str] = None
  error: Optional[str] = None


def run_stage(runner, key):
  """Runs `key` with `runner` (a `StageRunner`), holding the stage's lock.

  Whichever process trains a stage holds its lock, so no stage is trained by
  two live processes at once (see `stage_lock.py`).

  Raises:
    WriteError: a file of the stage could not be written, naming the file and
      the stage (`artifacts.WriteError`); what was written before is kept.
  """
  try:
    with stage_lock.StageLock(runner.layout.stage_lock(key), str(key)):
      return runner.run(key)
  except artifacts.WriteError as error:
    raise error.for_stage(str(key)) from error


def run_in_worker(runner, key):
  """Runs `key` with `runner` inside a worker; returns an `Outcome`."""
  try:
    return Outcome(key, row=run_stage(runner, key))
  except USER_ERRORS as error:
    return Outcome(key, error=str(error))
  except Exception as error:  # pylint: disable=broad-except
    traceback.print_exc(file=sys.stderr)
    return Outcome(key, failure=f"{type(error).__name__}: {error}")
