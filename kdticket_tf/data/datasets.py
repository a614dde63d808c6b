"""The registered datasets, loaded by name.

Importing this module imports every builder module, which registers its
datasets in `catalog`: `mnist` and `fashion_mnist` (`idx`), `mnist1d`,
`synthetic`, `cifar10`, `cifar100` and `imagenet2012` (`tfds_sources`).
"""

import tensorflow as tf

from kdticket_tf.data import catalog
from kdticket_tf.data import idx  # pylint: disable=unused-import
from kdticket_tf.data import mnist1d  # pylint: disable=unused-import
from kdticket_tf.data import synthetic  # pylint: disable=unused-import
from kdticket_tf.data import tfds_sources  # pylint: disable=unused-import

get = catalog.get
names = catalog.names
register = catalog.register


def load(config, seed=0):
  """Builds the `LotteryData` of `config` (a `DataConfig`).

  Raises:
    ValueError: for an unknown dataset or a `data_dir` that does not exist.
  """
  builder = catalog.get(config.dataset)
  if config.data_dir and not tf.io.gfile.exists(config.data_dir):
    raise ValueError(
        f"DataConfig.data_dir={config.data_dir!r} does not exist; give the "
        "folder that holds the prepared datasets.")
  return builder(config, seed)
