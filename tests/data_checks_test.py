"""Tests of the checks of a user's datasets: each mistake refused in a sentence.

Each case runs the checks as `find_tickets` does (`check_user_datasets` on the
datasets, then `check_dataset` of each against the built model); that the
search runs them before anything trains is checks_test's.
"""

import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

from kdticket_tf.search import data_checks
from tests import testing

CLASSES = testing.USER_CLASSES
FEATURES = testing.USER_FEATURES
_arrays = testing.user_arrays
_dataset = testing.user_dataset


def _model():
  inputs = keras.Input((FEATURES,), name="x")
  hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
  return keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(hidden))


def _check(train_data, test_data):
  """The checks of `find_tickets` and `checks.check_search`, in their order."""
  data_checks.check_user_datasets(train_data, test_data)
  model = _model()
  data_checks.check_dataset(train_data, "train_data", model)
  data_checks.check_dataset(test_data, "test_data", model)


# (case, train_data, test_data, the sentence's text); None stands for a good
# dataset.
MISTAKES = (
    ("labels_batch_by_one",
     _dataset(lambda x, y: (x, tf.expand_dims(y, -1))), None,
     "train_data's labels have shape [None, 1]; find_tickets accepts integer "
     "class labels of shape [batch] (0 to 2): tf.squeeze(labels, -1)."),
    ("float_labels", _dataset(lambda x, y: (x, tf.cast(y, tf.float32))),
     None, "train_data's labels are float32; find_tickets accepts integer "
     "class labels of shape [batch] (0 to 2): tf.cast(labels, tf.int64)."),
    ("labels_out_of_range", _dataset(lambda x, y: (x, y + 3)), None,
     "train_data's first batch holds label 5; the model has 3 classes "
     "(outputs), so labels must lie in [0, 2]."),
    ("unbatched", _dataset(batch=0), None,
     "train_data is not batched: its inputs have shape [12], one example of "
     "the model's input [None, 12]; batch it (dataset.batch(32))."),
    ("unbatched_test", None, _dataset(batch=0),
     "test_data is not batched"),
    ("tfds_dict", _dataset(lambda x, y: {"image": x, "label": y}),
     None, "train_data yields a dict (keys 'image', 'label'); find_tickets "
     "accepts (inputs, labels) or (inputs, labels, sample_weight) tuples "
     "(from TFDS: as_supervised=True)."),
    ("dict_inputs", _dataset(lambda x, y: ({"x": x}, y)), None,
     "train_data's inputs are a dict (keys 'x'); find_tickets accepts one "
     "input tensor [batch, ...] per batch."),
    ("input_shape", _dataset(lambda x, y: (x[:7], y)), None,
     "train_data's inputs have shape [None, 7]; the model takes inputs of "
     "shape [None, 12]."),
    ("string_inputs",
     _dataset(lambda x, y: (tf.strings.as_string(x), y)), None,
     "train_data's inputs are string; the model takes numbers (float32)"),
    ("weights_per_class",
     _dataset(lambda x, y: (x, y, tf.ones([CLASSES]))), None,
     "train_data's third item (sample weights) is a float32 tensor of shape "
     "[None, 3]; find_tickets accepts one weight per example"),
    ("epoch_function_of_arrays", lambda epoch: _arrays(), None,
     "train_data(0) returned a tuple; a function given as train_data must "
     "return that epoch's tf.data.Dataset."),
    ("infinite_test", None, _dataset().repeat(),
     "test_data is infinite (it repeats); find_tickets evaluates it whole at "
     "each epoch: give a finite dataset (drop the .repeat())."),
)


class DataChecksTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (name, train, test, text) for name, train, test, text in MISTAKES)
  def test_refused_in_one_sentence(self, train, test, text):
    with self.assertRaises(ValueError) as refused:
      _check(train if train is not None else _dataset(),
             test if test is not None else _dataset())
    message = str(refused.exception)
    self.assertIn(text, message)
    self.assertNotIn("\n", message)  # one sentence, no traceback

  def test_integer_inputs_sample_weights_and_an_epoch_function_pass(self):
    integers = _dataset(lambda x, y: (tf.cast(10 * x, tf.int32), y,
                                      tf.ones_like(y, tf.float32)))
    data_checks.check_user_datasets(lambda epoch: integers, integers,
                                    validation_data=integers)
    data_checks.check_dataset(integers, "train_data", _model())

  def test_an_empty_dataset_is_refused(self):
    with self.assertRaisesRegex(ValueError,
                                "^train_data is empty; give it at least one "
                                r"batch\.$"):
      data_checks.check_dataset(_dataset().take(0), "train_data", _model())


class InputShapeTest(tf.test.TestCase):

  def test_from_the_spec_or_else_from_the_first_batch(self):
    self.assertEqual(data_checks.input_shape(_dataset()), (FEATURES,))
    unknown = _dataset().map(lambda x, y: (tf.py_function(
        lambda v: v, [x], tf.float32), y))
    self.assertIsNone(unknown.element_spec[0].shape.rank)
    self.assertEqual(data_checks.input_shape(unknown), (FEATURES,))


if __name__ == "__main__":
  tf.test.main()
