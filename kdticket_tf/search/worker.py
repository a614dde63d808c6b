"""A worker process's start: from a workdir to the runner of its stages.

The executors (`run/`) start workers, locally or as Ray tasks, and hand each
this module's `start`: it reads the workdir's `config.json` first, so a
worker that cannot run says so before TensorFlow's slow start, then starts
TensorFlow with the worker's environment (its threads and GPUs) and rebuilds
the search's data and model (`stages.from_workdir`). Importing this module
does not import TensorFlow.
"""

import os

from kdticket_tf import logs
from kdticket_tf.config import recorded


def start(workdir, environment, verbose):
  """Prepares a fresh worker process; returns its `StageRunner`.

  Args:
    workdir: The search's workdir.
    environment: Environment variables read by TensorFlow when it starts.
    verbose: The run's verbosity (2 keeps TensorFlow's logs).
  """
  config = recorded.read_config(workdir)
  os.environ.update(environment)  # read by TensorFlow when it starts
  logs.start_tensorflow(verbose)
  # Imported once TensorFlow has started with this worker's threads.
  from kdticket_tf.search import stages  # pylint: disable=g-import-not-at-top
  return stages.from_workdir(workdir, config)
