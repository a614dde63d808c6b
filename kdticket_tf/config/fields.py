"""What a config field carries: its command-line flag, help, and checks.

A field of a config dataclass is declared once, with `setting(...)`:

    fraction: float = setting(0.2, "prune_fraction",
                              "Fraction of surviving weights pruned per "
                              "iterative level.", hparam=True)

Its metadata gives the flag's name and help text (the command line is generated
from it, see `settings.py`), whether a different value changes results
(`neutral` settings may differ when a search is resumed) and whether it is a
column of TensorBoard's HParams view. Errors name the field as the library sees
it (`PruningConfig.fraction=1.5 ...`); the command line rewrites them in flag
words.
"""

import dataclasses
import re

_DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*(it|ep)\s*$")
_ZERO_PATTERN = re.compile(r"^\s*0\s*$")
AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Duration:
  """A length of training given in iterations (`500it`) or epochs (`3ep`).

  A bare `0` is `0it`. `Duration.auto()` (written `auto`) is a step still to
  be chosen (`PruningConfig.rewind_step=auto`); it has no number of steps.

  Attributes:
    value: The non-negative number of units.
    unit: `it` (optimizer steps), `ep` (epochs) or `auto`.
  """
  value: int
  unit: str

  def __post_init__(self):
    if self.unit not in ("it", "ep", AUTO):
      raise ValueError(f"Duration unit {self.unit!r} is not 'it' or 'ep'.")
    if self.value < 0:
      raise ValueError(f"Duration {self.value}{self.unit} is negative.")

  @classmethod
  def auto(cls):
    """Returns the step still to be chosen, written `auto`."""
    return cls(0, AUTO)

  @property
  def is_auto(self):
    return self.unit == AUTO

  @classmethod
  def parse(cls, text, name="duration", allow_auto=False):
    """Parses `500it`, `3ep` or `0` (and `auto` if allowed).

    Args:
      text: The string to parse (a `Duration` is returned unchanged).
      name: The name of the setting, used in the error message.
      allow_auto: Whether `auto` (a step still to be chosen) is accepted.

    Returns:
      A `Duration`.

    Raises:
      ValueError: if `text` is not a number followed by `it` or `ep`.
    """
    if isinstance(text, Duration):
      return text
    if allow_auto and str(text).strip() == AUTO:
      return cls.auto()
    if _ZERO_PATTERN.match(str(text)):
      return cls(0, "it")
    match = _DURATION_PATTERN.match(str(text))
    if not match:
      raise ValueError(
          f"{name}={text!r} is not a duration; write a whole number followed by "
          "'it' (iterations) or 'ep' (epochs), for example '500it' or '3ep'" +
          (", or 'auto'." if allow_auto else "."))
    return cls(int(match.group(1)), match.group(2))

  def to_steps(self, steps_per_epoch):
    """Returns the number of optimizer steps for `steps_per_epoch`.

    Raises:
      ValueError: for `auto`, which has no steps until it is chosen.
    """
    if self.is_auto:
      raise ValueError("The step 'auto' has no number of steps until the "
                       "instability analysis chooses it.")
    if self.unit == "it":
      return self.value
    return self.value * steps_per_epoch

  def __str__(self):
    return AUTO if self.is_auto else f"{self.value}{self.unit}"


# How a flag's text becomes a field's value (see settings.py); the kind of a
# field whose default is a plain bool, int, float or str is read from it.
KINDS = ("string", "integer", "float", "bool", "enum", "list", "int_list",
         "float_list", "duration", "duration_list", "tristate", "pairs",
         "length", "step")


def setting(default, flag, help, *, kind=None, choices=(), neutral=False,  # pylint: disable=redefined-builtin
            hparam=False):
  """Declares a config field with its flag.

  Args:
    default: The field's default.
    flag: The command-line flag that sets it.
    help: The flag's help text.
    kind: How the flag's text is read (one of `KINDS`); by default from the
      type of `default`, `enum` when there are choices.
    choices: The values accepted (the flag is an enum, and the field checks).
    neutral: A different value changes no result (a resumed search may differ).
    hparam: Shown as a column of TensorBoard's HParams view.

  Returns:
    A `dataclasses.field`.
  """
  if kind is None:
    kind = ("enum" if choices else {bool: "bool", int: "integer",
                                    float: "float", str: "string",
                                    Duration: "duration"}[type(default)])
  if kind not in KINDS:
    raise ValueError(f"kind={kind!r} is not one of {KINDS}.")
  return dataclasses.field(default=default, metadata={
      "flag": flag, "help": help, "kind": kind, "choices": tuple(choices),
      "neutral": neutral, "hparam": hparam})


def name(config, field):
  """Returns a field's name as errors give it: `PruningConfig.fraction`."""
  return f"{type(config).__name__}.{field}"


def wrong(config, field, problem):
  """Returns a ValueError: `Class.field=value <problem>`."""
  value = getattr(config, field)
  shown = str(value) if isinstance(value, Duration) else repr(value)
  return ValueError(f"{name(config, field)}={shown} {problem}")


def check_choice(config, field):
  """Refuses a value that is not among the field's choices."""
  choices = dataclasses.fields(config)[
      [f.name for f in dataclasses.fields(config)].index(field)].metadata[
          "choices"]
  if getattr(config, field) not in choices:
    raise wrong(config, field, "is not supported; choose one of: "
                f"{', '.join(repr(c) for c in choices)}.")


def check_positive(config, field):
  if not getattr(config, field) > 0:
    raise wrong(config, field, "must be greater than 0.")


def check_at_least(config, field, lowest):
  if getattr(config, field) < lowest:
    raise wrong(config, field, f"must be {lowest} or more.")
