"""The dataset registry: name -> builder `fn(config, seed) -> LotteryData`.

Builder modules (`idx`, `synthetic`, `tfds_sources`) register themselves here;
`datasets` imports them all and loads a dataset by name.
"""

from kdticket_tf import registry

_REGISTRY = registry.Registry("dataset", "DataConfig.dataset")
register = _REGISTRY.register
get = _REGISTRY.get
names = _REGISTRY.names


class DataNotFoundError(ValueError):
  """A dataset is not prepared anywhere this package looks."""
