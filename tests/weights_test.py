"""Tests of weight and mask files."""

import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf.store import weights


def _model(units=3):
  inputs = keras.Input((4,))
  return keras.Model(inputs, keras.layers.Dense(units, name="fc")(inputs))


class WeightsTest(tf.test.TestCase):

  def test_model_weights_round_trip_with_readable_keys(self):
    path = os.path.join(self.get_temp_dir(), "w.npz")
    source = _model()
    weights.save_model_weights(path, source)
    with np.load(path) as archive:
      self.assertEqual(sorted(archive.files), ["000:fc.kernel", "001:fc.bias"])
    target = _model()
    weights.load_model_weights(path, target)
    for a, b in zip(source.get_weights(), target.get_weights()):
      self.assertAllEqual(a, b)

  def test_shape_mismatch_names_the_file(self):
    path = os.path.join(self.get_temp_dir(), "other.npz")
    weights.save_model_weights(path, _model(3))
    with self.assertRaisesRegex(ValueError, "other.npz holds 2 arrays that do "
                                "not match.*position 0"):
      weights.load_model_weights(path, _model(5))

  def test_truncated_file_names_the_file(self):
    path = os.path.join(self.get_temp_dir(), "cut.npz")
    weights.save_arrays(path, [np.ones((50, 50))], ["a"])
    with open(path, "r+b") as stream:
      stream.truncate(200)
    with self.assertRaisesRegex(ValueError, "cut.npz is corrupt"):
      weights.load_arrays(path)

  def test_missing_file_is_called_missing_not_corrupt(self):
    path = os.path.join(self.get_temp_dir(), "dense", "rewind.weights.npz")
    with self.assertRaisesRegex(ValueError, "rewind.weights.npz is missing"):
      weights.load_arrays(path)


if __name__ == "__main__":
  tf.test.main()
