"""Dataset registry: a name -> builder `fn(config, seed) -> LotteryData`."""

from kdticket_tf import registry
from kdticket_tf.data import pipeline

_REGISTRY = registry.Registry("dataset")
register = _REGISTRY.register
get = _REGISTRY.get
names = _REGISTRY.names


def load(config, seed=0):
  """Builds the `LotteryData` of `config` (a `DataConfig`)."""
  return get(config.dataset)(config, seed)


# pylint: disable=g-import-not-at-top,wrong-import-position
from kdticket_tf.data import idx  # registers mnist, fashion_mnist
from kdticket_tf.data import synthetic  # registers synthetic
from kdticket_tf.data import tfds_sources  # registers cifar10, cifar100, imagenet2012
