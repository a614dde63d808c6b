"""The configuration a workdir records, and the check that a rerun keeps it.

* `check_config` refuses to continue a workdir whose recorded configuration differs
  from the new one in a setting that changes results, and lists the differences.
  Settings that only extend, present or place a search may differ (the fields
  declared `neutral`: more levels or recipes, verbosity, exports, executors).
* `read_config` returns the `LotteryConfig` of a command-line workdir, as a
  worker process or a tool rebuilds the search from it.
"""

import os

from kdticket_tf.config import lottery as config_lib
from kdticket_tf.config import settings
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib


class ConfigMismatchError(ValueError):
  """The workdir holds a run with a different configuration."""


def _flatten(value, prefix=""):
  if isinstance(value, dict):
    result = {}
    for key, item in value.items():
      result.update(_flatten(item, f"{prefix}{key}."))
    return result
  return {prefix[:-1]: value}


def differences(recorded, current, defaults=None):
  """Returns `[(path, recorded, current)]` for result-changing settings.

  Args:
    recorded: The config dict a workdir holds.
    current: The new run's config dict.
    defaults: A config dict of default values; a setting that one side lacks
      (a run recorded before the setting existed) counts as its default.
  """
  old, new = _flatten(recorded), _flatten(current)
  fallback = _flatten(defaults or {})
  neutral = settings.neutral_paths()
  return [(key, old.get(key, fallback.get(key)), new.get(key, fallback.get(key)))
          for key in sorted(set(old) | set(new))
          if key not in neutral
          and old.get(key, fallback.get(key)) != new.get(key,
                                                         fallback.get(key))]


def check_config(workdir, config_dict):
  """Refuses a workdir whose recorded config differs in a result-changing setting.

  Args:
    workdir: The workdir.
    config_dict: The new run's configuration as a JSON-ready dict.

  Returns:
    The recorded configuration, or None for a new workdir.

  Raises:
    ConfigMismatchError: listing every differing setting.
  """
  path = layout_lib.Layout(workdir).config
  if not os.path.exists(path):
    return None
  recorded = artifacts.read_json(path)
  changed = differences(recorded, config_dict,
                        settings.to_dict(config_lib.LotteryConfig()))
  if changed:
    labels = {s.path: s.label for s in settings.all_settings()}
    listed = "; ".join(f"{labels.get(key, key)}: {old!r} -> {new!r}"
                       for key, old, new in changed)
    raise ConfigMismatchError(
        f"{workdir} holds a run with other settings ({listed}); use another "
        "workdir, or overwrite this one (the earlier run is moved aside, not "
        "deleted) to start again.")
  return recorded


def read_config(workdir):
  """Returns the `LotteryConfig` a workdir of the command line records.

  Raises:
    ValueError: if `workdir` holds no such run.
  """
  path = layout_lib.Layout(workdir).config
  if not os.path.exists(path):
    raise ValueError(f"{workdir} holds no {layout_lib.CONFIG}; is it a "
                     "kdticket_tf workdir?")
  config = settings.from_dict(artifacts.read_json(path))
  if config.model.name == "user" or config.data.dataset == "user":
    raise ValueError(
        f"{workdir} was made by find_tickets with your own model or data; "
        "work with it from Python (Lottery.export_stage).")
  return config
