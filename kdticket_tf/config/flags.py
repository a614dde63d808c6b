"""The trainer's flags, defined once: every config field's, plus the workdir's.

Importing this module defines the flags in absl's `FLAGS`: `--workdir`,
`--overwrite` and one flag per config field (generated from the field's
declaration, `fields.setting`, read by `settings.py`). The trainer
(`kdticket_tf.train`) and the tools that take the trainer's flags
(`tools/search_graph.py`) import it; library code never reads flags.
"""

from absl import flags

from kdticket_tf.config import settings

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
