r"""Command line: find lottery tickets, `python -m kdticket_tf.train --flagfile=...`.

The only module that defines or reads flags. Every flag but --workdir and
--overwrite is a config field's, generated from the field's declaration
(`config.py`, read by `settings.py`): flags -> `LotteryConfig` ->
`api.prepare(config, workdir).run()`.

    python -m kdticket_tf.train --flagfile=configs/quickstart.flags \
        --workdir=workdirs/quickstart
"""

import sys

from absl import app
from absl import flags
from absl import logging

from kdticket_tf import layout
from kdticket_tf import logs
from kdticket_tf import settings
from kdticket_tf import workdir as workdir_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output folder; a rerun resumes it.")
flags.DEFINE_bool("overwrite", False,
                  "Move an earlier run in --workdir aside (to "
                  "<workdir>.replaced-<time>) and start again.")
for _flag in settings.command_line():
  if _flag.kind == "enum":
    flags.DEFINE_enum(_flag.name, _flag.default, list(_flag.choices),
                      _flag.help)
  else:
    getattr(flags, f"DEFINE_{_flag.kind}")(_flag.name, _flag.default,
                                           _flag.help)


def config_from_flags():
  """Builds the `LotteryConfig` from the parsed flags.

  Raises:
    ValueError: with one sentence naming the bad flag.
  """
  try:
    return settings.config_from_flags(
        {f.name: FLAGS[f.name].value for f in settings.command_line()})
  except ValueError as error:
    raise ValueError(settings.in_flag_words(str(error))) from None


def flags_file():
  """The trainer's own flags as a flagfile (absl's and TensorFlow's left out)."""
  names = ["workdir", "overwrite"] + [f.name for f in settings.command_line()]
  lines = [FLAGS[name].serialize() for name in names]
  return "".join(line + "\n" for line in lines if line)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logs.start_tensorflow(FLAGS.verbose)
  # Imported once TensorFlow has started (quietly unless --verbose=2).
  # pylint: disable=g-import-not-at-top
  from kdticket_tf import api
  from kdticket_tf import distribute
  from kdticket_tf import lottery
  try:
    config = config_from_flags()
    distribute.configure_virtual_cpus(config.distribute.virtual_cpus)
    rows = api.prepare(config, FLAGS.workdir).run(
        overwrite=FLAGS.overwrite,
        files={layout.FLAGS: flags_file()})
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
