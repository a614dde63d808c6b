"""Dataset registry: a name -> builder of `LotteryData` for a `DataConfig`."""

from kdticket_tf.data import pipeline

_BUILDERS = {}


def register(name):
  """Decorator adding a builder `fn(config, seed) -> LotteryData` under `name`."""
  def decorator(builder):
    if name in _BUILDERS:
      raise ValueError(f"Dataset {name!r} is already registered.")
    _BUILDERS[name] = builder
    return builder
  return decorator


def names():
  """Returns the registered dataset names."""
  return sorted(_BUILDERS)


def get(name):
  """Returns the builder registered as `name`.

  Raises:
    ValueError: if no dataset has that name.
  """
  if name not in _BUILDERS:
    raise ValueError(
        f"dataset={name!r} is unknown; choose one of: {', '.join(names())}.")
  return _BUILDERS[name]


def load(config, seed=0):
  """Builds the `LotteryData` of `config` (a `DataConfig`)."""
  return get(config.dataset)(config, seed)


# pylint: disable=g-import-not-at-top,wrong-import-position
from kdticket_tf.data import idx  # registers mnist, fashion_mnist
from kdticket_tf.data import synthetic  # registers synthetic
from kdticket_tf.data import tfds_sources  # registers cifar10, cifar100, imagenet2012
