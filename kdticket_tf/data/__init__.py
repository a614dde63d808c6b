"""Datasets: the registry of datasets, their builders and input pipelines.

`load(config, seed)` builds a registered dataset (see `datasets`); `catalog` is
the registry builders add themselves to; `pipeline` makes a dataset's
`LotteryData`; `streams` holds the resumable training streams.
"""

from kdticket_tf.data.datasets import get
from kdticket_tf.data.datasets import load
from kdticket_tf.data.datasets import names
from kdticket_tf.data.datasets import register
