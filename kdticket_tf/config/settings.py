"""The settings of a search, read from the config fields' metadata.

Each field of `config.LotteryConfig` and its sections is declared once, with
`fields.setting` (flag, help, kind, choices, whether it changes results,
whether it is an HParams column). From that one declaration this module gives:

* `command_line()`: the flags the trainer defines (`train.py`), with their
  defaults and help texts, and `config_from_flags` to build the config back;
* `in_flag_words`: an error in field words (`PruningConfig.fraction=1.5`) in
  the command line's, naming the flag (prune_fraction) instead;
* `neutral_paths()` and `hparam_paths()`: the settings a resumed search may
  change, and the HParams columns;
* `to_dict` / `from_dict`: a config as a workdir's `config.json`.
"""

import dataclasses
import re
from typing import NamedTuple, Tuple

from kdticket_tf import config as config_lib
from kdticket_tf.config import fields

SECTIONS = {"data": config_lib.DataConfig, "model": config_lib.ModelConfig,
            "train": config_lib.TrainConfig,
            "pruning": config_lib.PruningConfig,
            "distill": config_lib.DistillConfig,
            "export": config_lib.ExportConfig,
            "distribute": config_lib.DistributeConfig,
            "executor": config_lib.ExecutorConfig,
            "analysis": config_lib.AnalysisConfig}
# The second flag of the one `length` field: the training length in steps.
STEPS_FLAG = "train_steps"
_STEPS_HELP = "Training length in steps."
_TRISTATE = {"auto": None, "true": True, "false": False}


class Setting(NamedTuple):
  """One config field with its metadata."""
  section: str  # "" for a field of LotteryConfig itself
  owner: type
  field: dataclasses.Field

  @property
  def path(self):
    """`pruning.fraction`: where config.json keeps it."""
    return f"{self.section}.{self.field.name}" if self.section else \
        self.field.name

  @property
  def label(self):
    """`PruningConfig.fraction`: how errors name it."""
    return f"{self.owner.__name__}.{self.field.name}"

  def __getattr__(self, key):  # flag, help, kind, choices, neutral, hparam
    try:
      return self.field.metadata[key]
    except KeyError:
      raise AttributeError(key) from None


class Flag(NamedTuple):
  """A flag to define: an absl kind (string, integer, float, bool, enum,
  list), its default and help, its choices (enum)."""
  name: str
  kind: str
  default: object
  help: str
  choices: Tuple[str, ...] = ()


def all_settings():
  """Returns every `Setting` of `LotteryConfig`, section by section."""
  found = []
  for field in dataclasses.fields(config_lib.LotteryConfig):
    if field.metadata:
      found.append(Setting("", config_lib.LotteryConfig, field))
  for section, cls in SECTIONS.items():
    found.extend(Setting(section, cls, f) for f in dataclasses.fields(cls))
  return found


def _flag_default(setting):
  value, kind = setting.field.default, setting.kind
  if kind == "length":
    return None
  if kind == "tristate":
    return {v: k for k, v in _TRISTATE.items()}[value]
  if kind in ("list", "int_list", "float_list", "duration_list"):
    return [str(v) for v in value]
  if kind == "pairs":
    return [f"{pattern}:{fraction}" for pattern, fraction in value]
  if kind in ("duration", "step"):
    return str(value)
  return value


def command_line():
  """Returns the `Flag`s of every setting (and the steps flag of the length)."""
  absl_kind = {"string": "string", "integer": "integer", "float": "float",
               "bool": "bool", "enum": "enum", "duration": "string",
               "step": "string",
               "tristate": "enum", "length": "integer"}
  found = []
  for setting in all_settings():
    kind = absl_kind.get(setting.kind, "list")
    choices = (tuple(_TRISTATE) if setting.kind == "tristate" else
               setting.choices if kind == "enum" else ())
    found.append(Flag(setting.flag, kind, _flag_default(setting),
                      setting.help, choices))
    if setting.kind == "length":
      found.append(Flag(STEPS_FLAG, "integer", None, _STEPS_HELP))
  return found


def _parse(setting, value, values):
  """Returns the field value of a flag value."""
  kind, label = setting.kind, setting.label
  try:
    if kind == "length":
      steps = values[STEPS_FLAG]
      if (value is None) == (steps is None):
        raise ValueError(f"{label} needs exactly one length: in epochs or in "
                         "steps.")
      length = (fields.Duration(value, "ep") if value is not None else
                fields.Duration(steps, "it"))
      if length.value < 1:
        raise ValueError(f"{label}={length} must be at least 1 step or epoch.")
      return length
    if kind == "tristate":
      return _TRISTATE[value]
    if kind in ("duration", "step"):
      return fields.Duration.parse(value, label, allow_auto=kind == "step")
    if kind == "duration_list":
      return tuple(fields.Duration.parse(v, label) for v in value)
    if kind == "int_list":
      return tuple(int(v) for v in value)
    if kind == "float_list":
      return tuple(float(v) for v in value)
    if kind == "pairs":
      pairs = []
      for item in value:
        pattern, _, fraction = item.rpartition(":")
        pairs.append((pattern, float(fraction)))
      return tuple(pairs)
    if kind == "list":
      return tuple(value)
  except (TypeError, ValueError) as error:
    if str(error).startswith(label):
      raise
    raise ValueError(f"{label}={value!r} cannot be read as a {kind} ("
                     f"{_EXAMPLES.get(kind, kind)}).") from None
  return value


_EXAMPLES = {"int_list": "whole numbers, for example 28,28,1",
             "float_list": "numbers, for example 0.5,0.8",
             "pairs": "regex:fraction items, for example logits:0.1"}


def config_from_flags(values):
  """Builds the `LotteryConfig` from flag values, `{flag name: value}`.

  Raises:
    ValueError: naming the field (see `in_flag_words`).
  """
  sections = {name: {} for name in SECTIONS}
  top = {}
  for setting in all_settings():
    value = _parse(setting, values[setting.flag], values)
    (sections[setting.section] if setting.section else top)[
        setting.field.name] = value
  return config_lib.LotteryConfig(
      **top, **{name: SECTIONS[name](**kwargs)
                for name, kwargs in sections.items()})


def in_flag_words(message):
  """Rewrites the fields an error names as the flags that set them."""
  flags = {}
  for setting in all_settings():
    flags[setting.label] = "--" + setting.flag
    if setting.kind == "length":
      flags[setting.label] = f"--{setting.flag}/--{STEPS_FLAG}"
  return re.sub(r"\b[A-Z]\w*Config\.\w+\b",
                lambda match: flags.get(match.group(0), match.group(0)),
                message)


def neutral_paths():
  """Dotted config paths that change no result already in a workdir."""
  return frozenset(s.path for s in all_settings() if s.neutral)


def hparam_paths():
  """Dotted config paths shown as HParams columns, in declaration order."""
  return [s.path for s in all_settings() if s.hparam]


def to_dict(config):
  """Returns a JSON-ready dict of a config dataclass (durations as strings)."""
  def convert(value):
    if isinstance(value, fields.Duration):
      return str(value)
    if dataclasses.is_dataclass(value):
      return {f.name: convert(getattr(value, f.name))
              for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
      return [convert(v) for v in value]
    return value
  return convert(config)


def from_dict(values):
  """Rebuilds a `LotteryConfig` from `to_dict` output (a workdir's config.json).

  A setting the dict lacks (a run recorded before it existed) takes its
  default.
  """
  kwargs = {name: {} for name in SECTIONS}
  top = {}
  for setting in all_settings():
    found = (values.get(setting.section, {}) if setting.section else values)
    if setting.field.name not in found:
      continue
    value, kind = found[setting.field.name], setting.kind
    if kind in ("duration", "length", "step"):
      value = fields.Duration.parse(value, setting.label,
                                    allow_auto=kind == "step")
    elif kind == "duration_list":
      value = tuple(fields.Duration.parse(v, setting.label) for v in value)
    elif kind == "pairs":
      value = tuple((str(p), float(f)) for p, f in value)
    elif isinstance(value, list):
      value = tuple(value)
    (kwargs[setting.section] if setting.section else top)[
        setting.field.name] = value
  return config_lib.LotteryConfig(
      **top, **{name: SECTIONS[name](**found) for name, found in kwargs.items()})
