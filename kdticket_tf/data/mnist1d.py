"""MNIST-1D (Greydanus 2020): a 1-D, 10-class benchmark generated offline.

PyPI's `mnist1d` generates it with `make_dataset` from its default arguments
(`get_dataset_args()`: 5,000 sequences of 40 values, split 4,000 / 1,000, seed
42). Its `get_dataset` downloads a file and is never called here.

`DataConfig.train_size` above 4,000 generates more training sequences: the
original 4,000, then sequences of `make_dataset` with the same arguments but
seed 43 (and `num_samples` scaled), all of them used for training. The test
set is always the original 1,000. `DataConfig.validation_size` holds examples
out of the training pool as for every other dataset. Inputs are `[40, 1]`
float32, already standardised by `make_dataset`.
"""

import copy
import functools
import math

import numpy as np
import tensorflow as tf

from kdticket_tf.data import catalog
from kdticket_tf.data import pipeline
from kdticket_tf.data import streams

ORIGINAL_TRAIN = 4000
LENGTH = 40
NUM_CLASSES = 10
EXTRA_SEED_OFFSET = 1


@functools.lru_cache(maxsize=4)
def _generate(num_samples, seed):
  """Returns mnist1d's `make_dataset` dict for `num_samples` and `seed`.

  NumPy's global random state, which `make_dataset` seeds, is restored after.
  Generating takes about 1 s per 1,000 sequences, so a process keeps the
  last few results (read-only arrays).
  """
  from mnist1d import data as mnist1d_data  # pylint: disable=g-import-not-at-top
  args = copy.deepcopy(mnist1d_data.get_dataset_args())
  args.num_samples = int(num_samples)
  args.seed = int(seed)
  state = np.random.get_state()
  try:
    generated = mnist1d_data.make_dataset(args)
  finally:
    np.random.set_state(state)
  for value in generated.values():
    if isinstance(value, np.ndarray):
      value.flags.writeable = False
  return generated


def make_arrays(train_examples=ORIGINAL_TRAIN, seed=None):
  """Returns ((train x, y), (test x, y)) of MNIST-1D.

  Args:
    train_examples: Training sequences wanted; at least the original 4,000
      are returned, more are generated from `seed + 1`.
    seed: `make_dataset`'s seed (default: its own, 42).

  Returns:
    x float32 `[N, 40, 1]`, y int64 `[N]`, for the training pool and the test
    set.
  """
  from mnist1d import data as mnist1d_data  # pylint: disable=g-import-not-at-top
  base_seed = mnist1d_data.get_dataset_args().seed if seed is None else seed
  original = _generate(mnist1d_data.get_dataset_args().num_samples, base_seed)
  images, labels = [original["x"]], [original["y"]]
  missing = int(train_examples) - len(original["y"])
  if missing > 0:
    # make_dataset makes num_samples // 10 per class; every one is kept.
    extra = _generate(NUM_CLASSES * math.ceil(missing / NUM_CLASSES),
                      base_seed + EXTRA_SEED_OFFSET)
    images.append(np.concatenate([extra["x"], extra["x_test"]])[:missing])
    labels.append(np.concatenate([extra["y"], extra["y_test"]])[:missing])

  def shaped(x):
    return np.array(x, np.float32)[..., None]
  return ((shaped(np.concatenate(images)),
           np.concatenate(labels).astype(np.int64)),
          (shaped(original["x_test"]), original["y_test"].astype(np.int64)))


@catalog.register("mnist1d")
def build(config, seed):
  """Builds MNIST-1D `LotteryData` (4,000 / 1,000, or `train_size` more)."""
  wanted = (config.train_size + config.validation_size if config.train_size
            else 0)
  train, test = make_arrays(max(ORIGINAL_TRAIN, wanted))
  if config.augment:
    raise ValueError(
        "DataConfig.augment=True has no augmentation for 'mnist1d' (its "
        "sequences are randomly transformed when generated); leave it auto.")
  images, labels, val_images, val_labels = pipeline.split_arrays(
      train[0], train[1], config.validation_size, config.train_size)

  def preprocess(x):
    return tf.cast(x, tf.float32)
  stream = streams.ArrayStream(images, labels, config.batch_size, seed,
                               preprocess)
  validation = None
  if val_images is not None:
    validation = pipeline.eval_dataset(val_images, val_labels,
                                       config.eval_batch_size, preprocess)
  return pipeline.LotteryData(
      name="mnist1d", train=stream,
      test=pipeline.eval_dataset(test[0], test[1], config.eval_batch_size,
                                 preprocess),
      validation=validation, input_shape=(LENGTH, 1),
      num_classes=NUM_CLASSES, preprocess=preprocess, raw_dtype="float32",
      normalization={"mean": [0.0], "std": [1.0], "scale": 1.0},
      raw_test=test)
