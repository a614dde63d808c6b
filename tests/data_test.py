"""Tests of datasets: augmentation, IDX files, TFDS (streams: streams_test)."""

import gzip
import os
import struct
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras
import tensorflow_datasets as tfds

from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf.data import idx
from kdticket_tf.data import catalog
from kdticket_tf.data import pipeline
from kdticket_tf.data import streams
from kdticket_tf.data import tfds_sources


def _write_idx(path, array):
  header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
      ">" + "I" * array.ndim, *array.shape)
  with gzip.open(path, "wb") as stream:
    stream.write(header + array.astype(np.uint8).tobytes())


class PipelineTest(tf.test.TestCase):

  def test_pad_crop_flip_moves_pixels_without_inventing_values(self):
    images = tf.reshape(tf.range(2 * 6 * 6 * 1), (2, 6, 6, 1)) + 1
    out = pipeline.pad_crop_flip(2)(images, tf.constant([1, 2], tf.int64))
    self.assertEqual(out.shape, images.shape)
    values = set(out.numpy().ravel()) - {0}
    self.assertTrue(values <= set(images.numpy().ravel()))
    again = pipeline.pad_crop_flip(2)(images, tf.constant([1, 2], tf.int64))
    self.assertAllEqual(out, again)

  def test_inputs_with_nan_or_inf_are_refused_before_training(self):
    images = np.zeros((6, 2, 2, 1), np.float32)
    labels = np.zeros(6, np.int64)
    images[4, 1, 0, 0] = np.nan
    images[5, 0, 0, 0] = -np.inf
    settings = config.DataConfig(batch_size=2, augment=False)
    with self.assertRaisesRegex(
        ValueError, r"^The training inputs hold NaN or Inf in 2 of 6 examples "
        r"\(the first is example 4\); replace them \(np.nan_to_num\)"):
      pipeline.from_arrays("x", (images, labels), (images[:2], labels[:2]),
                           settings, 0, [0.0], [1.0], 2)
    with self.assertRaisesRegex(ValueError, "^The test inputs hold NaN or Inf "
                                "in 1 of 2 examples"):
      pipeline.from_arrays("x", (images[:4], labels[:4]),
                           (images[3:5], labels[3:5]), settings, 0, [0.0],
                           [1.0], 2)


class IdxTest(tf.test.TestCase):

  def _write_mnist_files(self, folder):
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(30) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(10),
    }
    for name, array in arrays.items():
      _write_idx(os.path.join(folder, name), array)
    return arrays

  def test_read_idx_round_trip(self):
    path = os.path.join(self.get_temp_dir(), "a.gz")
    array = np.arange(24).reshape(2, 3, 4)
    _write_idx(path, array)
    self.assertAllEqual(idx.read_idx(path), array)

  def test_truncated_idx_names_the_file(self):
    path = os.path.join(self.get_temp_dir(), "short.gz")
    with gzip.open(path, "wb") as stream:
      stream.write(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + b"\x01\x02")
    with self.assertRaisesRegex(ValueError, "short.gz is truncated"):
      idx.read_idx(path)

  def test_mnist_from_idx_files_in_data_dir(self):
    folder = os.path.join(self.get_temp_dir(), "mnist_files")
    arrays = self._write_mnist_files(folder)
    loaded = data.load(config.DataConfig(dataset="mnist", data_dir=folder,
                                         batch_size=10, eval_batch_size=5))
    self.assertEqual(loaded.input_shape, (28, 28, 1))
    self.assertEqual(loaded.train.steps_per_epoch, 3)
    images, labels = next(iter(loaded.test))
    self.assertAllEqual(labels, arrays["t10k-labels-idx1-ubyte.gz"][:5])
    expected = (arrays["t10k-images-idx3-ubyte.gz"][:5, ..., None] / 255.0
                - 0.1307) / 0.3081
    self.assertAllClose(images, expected, atol=1e-5)

  def test_missing_dataset_says_where_it_looked(self):
    empty = os.path.join(self.get_temp_dir(), "empty")
    os.makedirs(empty, exist_ok=True)
    home = os.path.join(self.get_temp_dir(), "home")
    with mock.patch.dict(os.environ, {"HOME": home}):
      with self.assertRaisesRegex(catalog.DataNotFoundError,
                                  "mnist.*" + empty):
        data.load(config.DataConfig(dataset="mnist", data_dir=empty))

  def test_fashion_mnist_error_names_the_debian_package(self):
    empty = os.path.join(self.get_temp_dir(), "no_fashion")
    os.makedirs(empty, exist_ok=True)
    with mock.patch.object(idx, "candidate_folders", return_value=["/nowhere"]):
      with self.assertRaisesRegex(catalog.DataNotFoundError,
                                  "dataset-fashion-mnist"):
        data.load(config.DataConfig(dataset="fashion_mnist", data_dir=empty))

  def test_data_dir_that_does_not_exist_is_refused(self):
    with self.assertRaisesRegex(ValueError, "data_dir='/no/such' does not"):
      data.load(config.DataConfig(dataset="mnist", data_dir="/no/such"))


class TfdsTest(tf.test.TestCase):

  def test_cifar10_through_tfds_mock_data(self):
    with tfds.testing.mock_data(num_examples=64):
      loaded = data.load(config.DataConfig(dataset="cifar10", batch_size=16,
                                           eval_batch_size=32,
                                           validation_size=16))
    self.assertEqual(loaded.input_shape, (32, 32, 3))
    self.assertEqual(loaded.num_classes, 10)
    self.assertEqual(loaded.train.steps_per_epoch, 3)  # 48 of 64 left
    self.assertTrue(loaded.train.augmented)
    images, _ = next(iter(loaded.train.stream(0)))
    self.assertEqual(images.shape, (16, 32, 32, 3))
    self.assertIsNotNone(loaded.validation)

  def test_imagenet_train_batches_follow_the_augment_choice(self):
    images = np.random.default_rng(0).integers(
        0, 256, (8, 40, 48, 3)).astype(np.uint8)
    examples = tf.data.Dataset.from_tensor_slices(  # encoded, as TFDS reads
        {"image": [tf.io.encode_png(i).numpy() for i in images],
         "label": np.arange(8, dtype=np.int64)})

    def first_batch(augment, seed, epoch=0):
      batches = tfds_sources.imagenet_train_batches(
          examples, config.DataConfig(batch_size=4, augment=augment), seed,
          epoch, image_size=24)
      return next(iter(batches))

    plain, labels = first_batch(False, seed=1)
    self.assertEqual(plain.shape, (4, 24, 24, 3))
    centre, _ = tfds_sources._imagenet_eval_map(24)(  # pylint: disable=protected-access
        {"image": images[int(labels[0])], "label": labels[0]})
    self.assertAllClose(plain[0], centre)
    augmented, labels_again = first_batch(None, seed=1)
    self.assertAllEqual(labels, labels_again)  # same shuffle, other crop
    self.assertEqual(augmented.shape, (4, 24, 24, 3))
    self.assertNotAllClose(augmented, plain)
    again, _ = first_batch(None, seed=1)
    self.assertAllEqual(again, augmented)  # an epoch is reproducible
    _, next_labels = first_batch(None, seed=1, epoch=1)
    self.assertNotAllEqual(next_labels, labels)  # each epoch its own order
    # In the training stream the epoch is a tensor, with any global seed (0
    # is the default one).
    keras.utils.set_random_seed(0)
    stream = streams.DatasetStream(
        lambda epoch: tfds_sources.imagenet_train_batches(
            examples, config.DataConfig(batch_size=4), 0, epoch,
            image_size=24), steps_per_epoch=2)
    batches = [labels.numpy().tolist() for _, labels in stream.stream(0).take(4)]
    again = [labels.numpy().tolist() for _, labels in stream.stream(2).take(2)]
    self.assertEqual(batches[2:], again)  # resumed at epoch 1: the same
    self.assertCountEqual(sum(batches[:2], []), list(range(8)))

  def test_imagenet_evaluation_keeps_the_aspect_ratio(self):
    # Pixel value = column index: after resizing the shorter side (100 -> 256,
    # so 200 -> 512) and cropping the centre 224, the first column is column
    # 144 of the resized image, about 144.5 / 2.56 - 0.5 = 55.9 of the
    # original, the last 367. Squashing to 256x256 first would give
    # 16.5 / 1.28 - 0.5 = 12.4.
    image = np.tile(np.arange(200, dtype=np.float32)[None, :, None],
                    (100, 1, 3))
    view = tfds_sources.resize_and_centre_crop(tf.constant(image), 224)
    self.assertEqual(view.shape, (224, 224, 3))
    self.assertNear(float(view[112, 0, 0]), 55.9, 0.2)
    self.assertNear(float(view[112, 223, 0]), 367.5 / 2.56 - 0.5, 0.2)

  def test_unknown_dataset_lists_choices(self):
    with self.assertRaisesRegex(ValueError, "dataset='cifar'.*cifar10"):
      data.load(config.DataConfig(dataset="cifar"))


if __name__ == "__main__":
  tf.test.main()
