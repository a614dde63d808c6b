"""The data of a run (`LotteryData`) and how a registered dataset makes it.

`from_arrays` turns a registered dataset's (images, labels) arrays into
`LotteryData`: a validation split held out by a fixed permutation
(`split_arrays`), per-channel normalisation (`normalizer`), the standard
augmentation (`pad_crop_flip`), a training stream (`streams.ArrayStream`) and
cached evaluation datasets (`eval_dataset`). Inputs that hold NaN or Inf are
refused there (`check_finite`), before anything trains on them.
"""

import dataclasses
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from kdticket_tf.data import streams

AUTOTUNE = tf.data.AUTOTUNE


def eval_dataset(images, labels, batch_size, preprocess):
  """Returns a cached, batched, preprocessed evaluation dataset."""
  dataset = tf.data.Dataset.from_tensor_slices(
      (images, labels.astype(np.int64))).batch(batch_size)
  dataset = dataset.map(lambda x, y: (preprocess(x), y),
                        num_parallel_calls=AUTOTUNE)
  return dataset.cache().prefetch(AUTOTUNE)


def normalizer(mean, std, scale=255.0):
  """Returns a function: raw pixels -> float32 (x / scale - mean) / std."""
  mean = tf.constant(mean, tf.float32)
  std = tf.constant(std, tf.float32)

  def normalize(images):
    images = tf.cast(images, tf.float32) / scale
    return (images - mean) / std
  return normalize


def pad_crop_flip(padding=4):
  """Returns the CIFAR augmentation: pad, random crop back, random flip.

  The returned function works on a whole batch [B, H, W, C] with one stateless
  seed, drawing an offset and a flip per image.
  """
  def augment(images, seed):
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding],
                             [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, 3)
    offset_y = tf.random.stateless_uniform([batch], seeds[0], 0, 2 * padding + 1,
                                           tf.int32)
    offset_x = tf.random.stateless_uniform([batch], seeds[1], 0, 2 * padding + 1,
                                           tf.int32)
    rows = offset_y[:, None] + tf.range(height)[None, :]
    cols = offset_x[:, None] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, [2]), cropped)
  return augment


@dataclasses.dataclass
class LotteryData:
  """The data of a lottery run.

  Attributes:
    name: Dataset name.
    train: `streams.ArrayStream` or `streams.DatasetStream` of training
      batches.
    test: Batched test dataset.
    validation: Batched validation dataset, or None.
    input_shape: Shape of one model input.
    num_classes: Number of classes.
    preprocess: Raw input batch -> model input (None when unknown).
    raw_dtype: dtype of raw inputs.
    normalization: `{"mean": [...], "std": [...], "scale": 255.0}` that
      `preprocess` applies, recorded so exported tickets can apply it inside
      their serving graph; None when the inputs are given preprocessed.
    raw_test: The test split as raw (images, labels) arrays, for clients that
      send raw inputs to a served ticket; None when not held in memory.
  """
  name: str
  train: object
  test: tf.data.Dataset
  validation: Optional[tf.data.Dataset]
  input_shape: Tuple[int, ...]
  num_classes: int
  preprocess: Optional[Callable] = None
  raw_dtype: str = "float32"
  normalization: Optional[dict] = None
  raw_test: Optional[Tuple[np.ndarray, np.ndarray]] = None


def split_arrays(images, labels, validation_size, train_size=0):
  """Holds out `validation_size` examples by a fixed permutation (seed 0).

  Returns:
    (train images, train labels, validation images or None, validation labels).
  """
  if validation_size >= len(images):
    raise ValueError(
        f"DataConfig.validation_size={validation_size} leaves no training "
        "examples out of "
        f"{len(images)}.")
  validation = None, None
  if validation_size:
    order = np.random.default_rng(0).permutation(len(images))
    keep, held = np.sort(order[validation_size:]), np.sort(order[:validation_size])
    validation = images[held], labels[held]
    images, labels = images[keep], labels[keep]
  if train_size:
    images, labels = images[:train_size], labels[:train_size]
  return images, labels, validation[0], validation[1]


def check_finite(images, split):
  """Refuses floating-point inputs that hold NaN or Inf, before any training.

  Args:
    images: NumPy array [N, ...] of inputs (integer ones are always finite).
    split: What they are, for the error (`training`, `test`).

  Raises:
    ValueError: naming how many examples hold them and the first one.
  """
  if not np.issubdtype(images.dtype, np.floating):
    return
  bad = ~np.isfinite(images.reshape(len(images), -1)).all(axis=1)
  if bad.any():
    raise ValueError(
        f"The {split} inputs hold NaN or Inf in {int(bad.sum())} of "
        f"{len(images)} examples (the first is example {int(np.argmax(bad))}); "
        "replace them (np.nan_to_num) or drop those examples before the "
        "search.")


def from_arrays(name, train_arrays, test_arrays, config, seed, mean, std,
                num_classes, augment=None):
  """Builds `LotteryData` from NumPy (images, labels) pairs.

  Args:
    name: Dataset name.
    train_arrays: (images, labels) of the training split.
    test_arrays: (images, labels) of the test split.
    config: The `DataConfig`.
    seed: Seed of shuffling and augmentation.
    mean: Per-channel mean of pixels scaled to [0, 1].
    std: Per-channel standard deviation.
    num_classes: Number of classes.
    augment: The dataset's standard augmentation, used unless config.augment
      is False.

  Returns:
    The `LotteryData`.

  Raises:
    ValueError: for inputs that hold NaN or Inf (`check_finite`).
  """
  check_finite(train_arrays[0], "training")
  check_finite(test_arrays[0], "test")
  images, labels, val_images, val_labels = split_arrays(
      train_arrays[0], train_arrays[1], config.validation_size, config.train_size)
  preprocess = normalizer(mean, std)
  if config.augment is False:
    augment = None
  elif config.augment and augment is None:
    augment = pad_crop_flip()
  train = streams.ArrayStream(images, labels, config.batch_size, seed,
                              preprocess, augment)
  validation = None
  if val_images is not None:
    validation = eval_dataset(val_images, val_labels, config.eval_batch_size,
                              preprocess)
  test = eval_dataset(test_arrays[0], test_arrays[1], config.eval_batch_size,
                      preprocess)
  return LotteryData(name=name, train=train, test=test, validation=validation,
                     input_shape=tuple(images.shape[1:]),
                     num_classes=num_classes, preprocess=preprocess,
                     raw_dtype=str(images.dtype),
                     normalization={"mean": list(mean), "std": list(std),
                                    "scale": 255.0},
                     raw_test=(test_arrays[0], test_arrays[1]))
