"""The boundary: tf_keras models pass, Keras 3 ones are translated, no others.

Builds through `start_build` repeat a Keras 3 model's initial weights and its
unnamed layers' names, as they do a tf_keras one's; something that is no model
is refused naming its type (no advice on import order); and a search of a
tf_keras model never imports the translation.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import kdticket_tf  # pylint: disable=unused-import
from kdticket_tf.keras3 import boundary
from tests import testing


def _keras3_model():
  return keras.Sequential([keras.Input((6,)), keras.layers.Dense(5),
                           keras.layers.Dense(3)])


def _built(seed):
  boundary.start_build(seed)
  return _keras3_model()


class BoundaryTest(tf.test.TestCase):

  def test_a_tf_keras_model_passes_as_it_is(self):
    model = testing.model_fn()
    self.assertIs(boundary.engine_model(model), model)
    self.assertFalse(boundary.is_keras3(model))

  def test_a_keras3_model_is_translated(self):
    model = _keras3_model()
    self.assertTrue(boundary.is_keras3(model))
    translated = boundary.engine_model(model)
    self.assertIsInstance(translated, tf_keras.Sequential)
    self.assertAllEqual(translated.get_weights()[0], model.get_weights()[0])

  def test_builds_repeat_keras3_weights_and_layer_names(self):
    first, second, other = _built(3), _built(3), _built(4)
    self.assertEqual([l.name for l in first.layers], ["dense", "dense_1"])
    self.assertEqual([l.name for l in second.layers], ["dense", "dense_1"])
    for a, b in zip(first.get_weights(), second.get_weights()):
      self.assertAllEqual(a, b)
    self.assertFalse(np.array_equal(first.get_weights()[0],
                                    other.get_weights()[0]))

  def test_what_is_no_model_is_refused_naming_its_type(self):
    for value, found in (
        ({"layers": []}, r"a dict \(builtins\.dict\)"),
        (None, r"a NoneType \(builtins\.NoneType\)"),
        (tf.Module(),
         r"a Module \(tensorflow\.python\.module\.module\.Module\)")):
      with self.subTest(found):
        with self.assertRaisesRegex(
            ValueError, f"^model_fn returned {found}, not a Keras model; "
            "find_tickets needs a function that returns a fresh tf_keras or "
            "Keras 3 Sequential or functional model.$"):
          boundary.engine_model(value)
    with self.assertRaisesRegex(
        ValueError, r"^model_fn returned a tf_keras Dense layer \('head'\), "
        "not a model"):
      boundary.engine_model(tf_keras.layers.Dense(3, name="head"))

  def test_a_tf_keras_search_does_not_load_the_translation(self):
    script = (
        "import sys\n"
        "import kdticket_tf\n"
        "from kdticket_tf.search import lottery\n"
        "from kdticket_tf.keras3 import boundary\n"
        "from tests import testing\n"
        "boundary.start_build(0)\n"
        "boundary.engine_model(testing.model_fn())\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.startswith('kdticket_tf.keras3.')))\n")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=testing.ROOT,
        env=dict(os.environ, PYTHONPATH=testing.ROOT), capture_output=True,
        text=True, timeout=300, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertEqual(result.stdout.strip().splitlines()[-1],
                     "['kdticket_tf.keras3.boundary']")


if __name__ == "__main__":
  tf.test.main()
