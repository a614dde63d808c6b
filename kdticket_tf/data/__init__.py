"""Dataset registry: a name -> builder `fn(config, seed) -> LotteryData`."""

import tensorflow as tf

from kdticket_tf import registry
from kdticket_tf.data import pipeline

_REGISTRY = registry.Registry("dataset")
register = _REGISTRY.register
get = _REGISTRY.get
names = _REGISTRY.names


def load(config, seed=0):
  """Builds the `LotteryData` of `config` (a `DataConfig`).

  Raises:
    ValueError: for an unknown dataset or a `data_dir` that does not exist.
  """
  builder = get(config.dataset)
  if config.data_dir and not tf.io.gfile.exists(config.data_dir):
    raise ValueError(
        f"data_dir={config.data_dir!r} does not exist; give the folder that "
        "holds the prepared datasets.")
  return builder(config, seed)


# pylint: disable=g-import-not-at-top,wrong-import-position
from kdticket_tf.data import idx  # registers mnist, fashion_mnist
from kdticket_tf.data import synthetic  # registers synthetic
from kdticket_tf.data import tfds_sources  # registers cifar10, cifar100, imagenet2012
