"""Tests of the training streams: seeded, and the same batches from any step."""

from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from kdticket_tf.data import pipeline
from kdticket_tf.data import streams
from kdticket_tf.data import synthetic


def _batches(dataset, count):
  return [tuple(t.numpy() for t in batch) for batch in dataset.take(count)]


class ArrayStreamTest(tf.test.TestCase, parameterized.TestCase):

  def _stream(self, augment=None):
    images, labels = synthetic.make_arrays((8, 8, 3), 4, 50, seed=0)
    return streams.ArrayStream(images, labels, batch_size=8, seed=3,
                               preprocess=lambda x: tf.cast(x, tf.float32),
                               augment=augment)

  @parameterized.parameters(None, pipeline.pad_crop_flip(2))
  def test_stream_resumed_at_step_s_equals_the_full_stream(self, augment):
    stream = self._stream(augment)
    self.assertEqual(stream.steps_per_epoch, 6)
    full = _batches(stream.stream(0), 20)
    for start in (1, 6, 7, 13):
      resumed = _batches(stream.stream(start), 20 - start)
      for a, b in zip(full[start:], resumed):
        self.assertAllEqual(a[0], b[0])
        self.assertAllEqual(a[1], b[1])

  @parameterized.parameters(1, 3 * 8 * 8 * 3 * 8, 2**30)
  def test_batches_do_not_depend_on_the_gather_chunk(self, chunk_bytes):
    stream = self._stream()
    with mock.patch.object(streams, "_CHUNK_BYTES", chunk_bytes):
      batches = _batches(stream.stream(4), 10)
    images, labels = synthetic.make_arrays((8, 8, 3), 4, 50, seed=0)
    for step, (x, y) in enumerate(batches, start=4):
      epoch, row = divmod(step, 6)
      perm = tf.random.experimental.stateless_shuffle(
          tf.range(50, dtype=tf.int64), seed=[3, epoch]).numpy()
      index = perm[row * 8:(row + 1) * 8]
      self.assertAllEqual(x, images[index].astype(np.float32))
      self.assertAllEqual(y, labels[index])

  def test_each_epoch_is_a_new_permutation_without_repeats(self):
    stream = self._stream()
    batches = _batches(stream.stream(0), 12)
    first = np.concatenate([b[1] for b in batches[:6]])
    second = np.concatenate([b[1] for b in batches[6:]])
    self.assertLen(first, 48)  # 50 examples, the last partial batch dropped
    self.assertFalse(np.array_equal(first, second))

  def test_batch_larger_than_dataset_raises(self):
    images, labels = synthetic.make_arrays((2,), 2, 4, seed=0)
    with self.assertRaisesRegex(ValueError, "batch_size=8"):
      streams.ArrayStream(images, labels, 8, 0, lambda x: x)


class DatasetStreamTest(tf.test.TestCase):

  def test_user_dataset_stream_resumes_mid_epoch(self):
    dataset = tf.data.Dataset.range(10).batch(2)
    stream = streams.DatasetStream(dataset)
    self.assertEqual(stream.steps_per_epoch, 5)
    batches = [b.numpy().tolist() for b in stream.stream(7, 4)]
    self.assertEqual(batches, [[4, 5], [6, 7], [8, 9], [0, 1]])

  def test_epoch_function_gives_a_resumed_stream_the_same_batches(self):
    def epoch_dataset(epoch):
      return tf.data.Dataset.range(12).shuffle(12, seed=epoch).batch(3)

    stream = streams.DatasetStream(epoch_dataset)
    self.assertEqual(stream.steps_per_epoch, 4)
    from_zero = [b.numpy().tolist() for b in stream.stream(0, 12)]
    for start in (1, 4, 6):  # mid-epoch, an epoch boundary, epoch 1
      resumed = [b.numpy().tolist() for b in stream.stream(start, 4)]
      self.assertEqual(resumed, from_zero[start:start + 4])
    self.assertNotEqual(from_zero[:4], from_zero[4:8])  # epochs reshuffle


if __name__ == "__main__":
  tf.test.main()
