"""TFDS datasets: CIFAR-10/100 (in memory) and ImageNet (streamed).

TFDS cannot download here; these builders read a copy that a user has prepared
(`tfds build cifar10` into a data folder on a machine with internet, then copy the
folder) and fail with a sentence saying where they looked when there is none.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from kdticket_tf.data import catalog
from kdticket_tf.data import pipeline
from kdticket_tf.data import streams

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _builder(name, data_dir):
  return tfds.builder(name, data_dir=data_dir)


def _not_found(name, data_dir):
  where = data_dir or "the TFDS default (~/tensorflow_datasets)"
  return catalog.DataNotFoundError(
      f"Dataset {name!r} is not prepared in {where}, and TFDS cannot download "
      f"it here; run `tfds build {name}` on a machine with internet and copy "
      "the folder to DataConfig.data_dir.")


def load_arrays(name, data_dir):
  """Loads the train and test splits of a prepared TFDS dataset as NumPy arrays.

  Raises:
    DataNotFoundError: when TFDS has no prepared copy.
  """
  try:
    splits = tfds.load(name, split=["train", "test"], data_dir=data_dir,
                       download=False, as_supervised=True)
  except AssertionError:  # TFDS's way of saying "not prepared".
    raise _not_found(name, data_dir) from None
  return tuple(_to_arrays(split) for split in splits)


def _to_arrays(dataset):
  # Chunked rather than `batch_size=-1`, which aborts the process on TF 2.21
  # for generator-backed datasets such as `tfds.testing.mock_data`.
  images, labels = [], []
  for image, label in tfds.as_numpy(dataset.batch(8192)):
    images.append(image)
    labels.append(label)
  return np.concatenate(images), np.concatenate(labels)


def _num_classes(name, data_dir):
  return _builder(name, data_dir).info.features["label"].num_classes


def _cifar(name, mean, std):
  def build(config, seed):
    train, test = load_arrays(name, config.data_dir)
    return pipeline.from_arrays(name, train, test, config, seed, mean, std,
                                _num_classes(name, config.data_dir),
                                augment=pipeline.pad_crop_flip())
  return build


catalog.register("cifar10")(_cifar("cifar10", CIFAR10_MEAN, CIFAR10_STD))
catalog.register("cifar100")(_cifar("cifar100", CIFAR100_MEAN, CIFAR100_STD))


def _imagenet_train_map(seed, epoch, image_size):
  normalize = pipeline.normalizer(IMAGENET_MEAN, IMAGENET_STD)

  def preprocess(index, example):
    image = example["image"]
    stateless = tf.stack([tf.constant(seed, tf.int64),
                          epoch * 2**32 + tf.cast(index, tf.int64)])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros([0, 0, 4], tf.float32), seed=stateless,
        area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3),
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, size)
    image = tf.image.resize(image, [image_size, image_size])
    image = tf.image.stateless_random_flip_left_right(image, stateless)
    return normalize(image), example["label"]
  return preprocess


def resize_and_centre_crop(image, image_size=224):
  """The standard evaluation view: shorter side to 256/224 of `image_size`
  (256 for 224) keeping the aspect ratio, then the central square crop."""
  shorter = round(image_size * 256 / 224)
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = shorter / tf.reduce_min(shape)
  size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), shorter)
  image = tf.image.resize(image, size)
  return tf.image.resize_with_crop_or_pad(image, image_size, image_size)


def _imagenet_eval_map(image_size):
  normalize = pipeline.normalizer(IMAGENET_MEAN, IMAGENET_STD)

  def preprocess(example):
    image = resize_and_centre_crop(example["image"], image_size)
    return normalize(image), example["label"]
  return preprocess


def _decode(example):
  image = tf.io.decode_image(example["image"], channels=3,
                             expand_animations=False)
  return dict(example, image=image)


def _shuffled(examples, seed, epoch, block):
  """Permutes each block of `block` examples by keys drawn from (seed, epoch).

  Stateless: the same epoch gives the same order in any process, and no
  `Dataset.shuffle` seed has to be a tensor (which TensorFlow refuses when the
  global seed is 0). The examples are still encoded, so a block batches.
  """
  def permute(index, examples_block):
    keys = tf.random.stateless_uniform(
        tf.shape(examples_block["label"]),
        tf.stack([tf.constant(seed, tf.int64), epoch * 2**32 + index]))
    order = tf.argsort(keys)
    return tf.nest.map_structure(lambda t: tf.gather(t, order), examples_block)
  return examples.batch(block).enumerate().map(permute).unbatch()


def imagenet_train_batches(examples, config, seed, epoch, image_size=224):
  """Epoch `epoch` of ImageNet training batches.

  The examples, still encoded (`{"image": JPEG or PNG bytes, "label"}`, as
  TFDS reads them with `SkipDecoding`), are shuffled in blocks of ten batches
  by keys drawn from (seed, epoch), then decoded; with augmentation (the
  default) each image gets a random resized crop and flip seeded by (seed,
  epoch, position); with `config.augment` False, the evaluation's resize and
  centre crop. The same epoch gives the same batches, so resumed and rewound
  trainings see an uninterrupted run's order.

  Args:
    examples: The encoded training examples in a fixed order.
    config: The `DataConfig`.
    seed: The run's seed.
    epoch: The epoch (an int64 scalar, a tensor inside the stream).
    image_size: Side of the square inputs.
  """
  epoch = tf.cast(epoch, tf.int64)
  examples = _shuffled(examples, seed, epoch, 10 * config.batch_size).map(
      _decode, num_parallel_calls=pipeline.AUTOTUNE)
  if config.augment is False:
    train = examples.map(_imagenet_eval_map(image_size),
                         num_parallel_calls=pipeline.AUTOTUNE)
  else:
    train = examples.enumerate().map(
        _imagenet_train_map(seed, epoch, image_size),
        num_parallel_calls=pipeline.AUTOTUNE)
  return train.batch(config.batch_size, drop_remainder=True)


@catalog.register("imagenet2012")
def build_imagenet(config, seed, image_size=224):
  """ImageNet from TFDS, streamed: random resized crop + flip for training;
  shorter side to 256 and the 224 centre crop for evaluation."""
  name = "imagenet2012"
  builder = _builder(name, config.data_dir)
  if not tf.io.gfile.exists(os.path.join(builder.data_dir,
                                         "dataset_info.json")):
    raise _not_found(name, config.data_dir)
  num_train = builder.info.splits["train"].num_examples
  if config.validation_size:
    train_split = f"train[{config.validation_size}:]"
    validation = builder.as_dataset(split=f"train[:{config.validation_size}]")
    validation = validation.map(_imagenet_eval_map(image_size),
                                num_parallel_calls=pipeline.AUTOTUNE)
    validation = validation.batch(config.eval_batch_size).prefetch(
        pipeline.AUTOTUNE)
    num_train -= config.validation_size
  else:
    train_split, validation = "train", None
  # Files in their prepared order (TFDS shuffled the examples when it wrote
  # them), still encoded; each epoch shuffles with its own keys, so epochs
  # are reproducible.
  examples = builder.as_dataset(
      split=train_split, shuffle_files=False,
      decoders={"image": tfds.decode.SkipDecoding()})
  test = builder.as_dataset(split="validation").map(
      _imagenet_eval_map(image_size), num_parallel_calls=pipeline.AUTOTUNE)
  test = test.batch(config.eval_batch_size).prefetch(pipeline.AUTOTUNE)
  stream = streams.DatasetStream(
      lambda epoch: imagenet_train_batches(examples, config, seed, epoch,
                                           image_size),
      steps_per_epoch=max(num_train // config.batch_size, 1),
      augmented=config.augment is not False)
  return pipeline.LotteryData(
      name=name, train=stream, test=test, validation=validation,
      input_shape=(image_size, image_size, 3),
      num_classes=builder.info.features["label"].num_classes,
      preprocess=None, raw_dtype="uint8")

