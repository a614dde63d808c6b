r"""Command line: find lottery tickets, `python -m kdticket_tf.train --flagfile=...`.

The only module that reads flags; they are defined in `config/flags.py`. Every
flag but --workdir and --overwrite is a config field's, generated from the
field's declaration (`config/lottery.py`, read by `config/settings.py`):
flags -> `LotteryConfig` -> `api.prepare(config, workdir).run()`.

    python -m kdticket_tf.train --flagfile=configs/quickstart.flags \
        --workdir=workdirs/quickstart
"""

import sys

from absl import app
from absl import flags
from absl import logging

from kdticket_tf.store import layout
from kdticket_tf import logs
from kdticket_tf.config import flags as trainer_flags
from kdticket_tf.config import settings
from kdticket_tf.store import workdir as workdir_lib

FLAGS = flags.FLAGS
# The trainer's flags are `trainer_flags`'s; --help lists them as this module's.
flags.adopt_module_key_flags(trainer_flags)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logs.start_tensorflow(FLAGS.verbose)
  # Imported once TensorFlow has started (quietly unless --verbose=2).
  # pylint: disable=g-import-not-at-top
  from kdticket_tf import api
  from kdticket_tf.run import strategies as distribute
  from kdticket_tf.search import lottery
  try:
    config = trainer_flags.config_from_flags()
    distribute.configure_virtual_cpus(config.distribute.virtual_cpus)
    rows = api.prepare(config, FLAGS.workdir).run(
        overwrite=FLAGS.overwrite,
        files={layout.FLAGS: trainer_flags.flags_file()})
  except (ValueError, OSError, lottery.LotteryFailedError,
          workdir_lib.WorkdirInUseError) as error:
    print("kdticket_tf.train: error: " + settings.in_flag_words(str(error)),
          file=sys.stderr)
    return 1
  del rows
  paths = layout.Layout(FLAGS.workdir)
  shown = [paths.results("md")]
  if config.analysis.name == "instability":
    shown = [paths.instability("md")]
  for path in shown:
    with open(path, encoding="utf-8") as stream:
      print(stream.read())
  logging.info("Results in %s", FLAGS.workdir)
  return 0


def run():
  """Console-script entry point."""
  # Required of the command only: a test that imports this module for its
  # flags runs under absl's main too (as Bazel runs it), without --workdir.
  flags.mark_flag_as_required("workdir")
  app.run(main)


if __name__ == "__main__":
  run()
