"""Tests of the MNIST-1D dataset and the 1-D models."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests import testing  # pylint: disable=unused-import
from kdticket_tf import config as config_lib
from kdticket_tf import data as data_lib
from kdticket_tf.instability import interpolation as instability
from kdticket_tf import models as models_lib
from kdticket_tf.data import mnist1d


class Mnist1dTest(tf.test.TestCase):

  def test_arrays_are_deterministic_per_seed_and_shaped(self):
    (train, test) = mnist1d.make_arrays()
    self.assertEqual(train[0].shape, (4000, 40, 1))
    self.assertEqual(test[0].shape, (1000, 40, 1))
    self.assertEqual(train[0].dtype, np.float32)
    self.assertTrue(train[0].flags.writeable)  # the caller's own copy
    self.assertEqual(sorted(set(train[1].tolist())), list(range(10)))
    other, _ = mnist1d.make_arrays(seed=7)
    self.assertFalse(np.array_equal(other[0], train[0]))
    # The same sequences from a fresh generation (not the process's cache).
    first = mnist1d._generate(200, 42)
    mnist1d._generate.cache_clear()
    again = mnist1d._generate(200, 42)
    self.assertIsNot(again, first)
    for key in ("x", "y", "x_test", "y_test"):
      self.assertAllEqual(first[key], again[key])
    self.assertIs(mnist1d._generate(200, 42), again)
    self.assertFalse(again["x"].flags.writeable)
    # make_dataset's seeding leaves NumPy's global random state alone.
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    mnist1d._generate(100, 3)
    self.assertEqual(np.random.rand(), expected)

  def test_train_size_generates_more_and_validation_is_held_out(self):
    data = data_lib.load(config_lib.DataConfig(
        dataset="mnist1d", train_size=5000, validation_size=500,
        batch_size=100))
    self.assertEqual(data.train.num_examples, 5000)
    self.assertEqual(sum(int(tf.shape(b[1])[0]) for b in data.validation),
                     500)
    self.assertEqual(sum(int(tf.shape(b[1])[0]) for b in data.test), 1000)
    self.assertEqual(data.input_shape, (40, 1))
    (pool, _) = mnist1d.make_arrays(5500)
    (original, _) = mnist1d.make_arrays()
    self.assertAllEqual(pool[0][:4000], original[0])
    default = data_lib.load(config_lib.DataConfig(dataset="mnist1d"))
    self.assertEqual(default.train.num_examples, 4000)
    small = data_lib.load(config_lib.DataConfig(dataset="mnist1d",
                                                train_size=1000))
    self.assertEqual(small.train.num_examples, 1000)

  def test_one_dimensional_models(self):
    for name, extra, count in (("mlp1d", {"width": 100}, 0),
                               ("conv1d", {"width": 25}, 0),
                               ("resnet1d", {"depth": 8, "width": 8}, 9)):
      model = models_lib.build(config_lib.ModelConfig(name=name, **extra),
                               (40, 1), 10)
      self.assertEqual(model(np.zeros((2, 40, 1), np.float32)).shape, (2, 10))
      self.assertLen(instability.batchnorm_layers(model), count)
    with self.assertRaisesRegex(ValueError, "6n\\+2"):
      config_lib.ModelConfig(name="resnet1d", depth=10)


if __name__ == "__main__":
  absltest.main()
