"""A synthetic, learnable dataset of any shape for tests and benchmarks.

Each class has a random uint8 prototype; an example is its class prototype plus
uniform noise, so small models learn it in a few steps. Only for tests and
throughput benchmarks: no accuracy figure from it means anything.
"""

import numpy as np

from kdticket_tf.data import catalog
from kdticket_tf.data import pipeline


def make_arrays(shape, num_classes, num_examples, seed, prototype_seed=1000):
  """Returns (images uint8 [N, *shape], labels int64 [N]).

  Args:
    shape: Shape of one example.
    num_classes: Number of classes.
    num_examples: N.
    seed: Seed of the labels and noise.
    prototype_seed: Seed of the class prototypes (shared by train and test).
  """
  prototypes = np.random.default_rng(prototype_seed).integers(
      0, 256, size=(num_classes,) + tuple(shape))
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, size=num_examples)
  noise = rng.integers(-64, 65, size=(num_examples,) + tuple(shape))
  images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
  return images, labels.astype(np.int64)


@catalog.register("synthetic")
def build(config, seed):
  """Builds synthetic `LotteryData` from the `synthetic_*` fields of `config`."""
  shape = tuple(config.synthetic_shape)
  train = make_arrays(shape, config.synthetic_classes,
                      config.synthetic_examples, seed=1)
  test = make_arrays(shape, config.synthetic_classes,
                     max(config.synthetic_examples // 4, 1), seed=2)
  channels = shape[-1] if len(shape) == 3 else 1
  return pipeline.from_arrays(
      "synthetic", train, test, config, seed, mean=(0.5,) * channels,
      std=(0.3,) * channels, num_classes=config.synthetic_classes,
      augment=None)
