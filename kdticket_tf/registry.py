"""A small named registry: a dict filled by `register(name)`, read by `get(name)`."""


class Registry:
  """Maps names chosen by string flags to builders (or table rows)."""

  def __init__(self, kind, label=None):
    """Creates an empty registry.

    Args:
      kind: What the entries are (`dataset`), in messages about registering.
      label: The config field that names an entry (`DataConfig.dataset`), in
        the message about an unknown name.
    """
    self._kind = kind
    self._label = label or kind
    self._entries = {}

  def add(self, name, entry):
    """Registers `entry` under `name` and returns it.

    Raises:
      ValueError: if `name` is taken.
    """
    if name in self._entries:
      raise ValueError(f"{self._kind} {name!r} is already registered.")
    self._entries[name] = entry
    return entry

  def register(self, name):
    """Decorator form of `add`."""
    return lambda entry: self.add(name, entry)

  def get(self, name):
    """Returns the entry called `name`.

    Raises:
      ValueError: naming the unknown value and the accepted ones.
    """
    if name not in self._entries:
      raise ValueError(
          f"{self._label}={name!r} is unknown; choose one of: "
          f"{', '.join(self.names())}.")
    return self._entries[name]

  def names(self):
    """Returns the registered names in registration order."""
    return list(self._entries)
