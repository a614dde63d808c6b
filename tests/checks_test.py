"""Tests of the checks before a search: a Keras user's mistakes, refused early.

Each mistake goes through `find_tickets` and must be refused with one sentence
that names what was found and what is accepted, before anything trains (no
`dense/` folder, `training.train` never called). The datasets' mistakes are
data_checks_test's; two of them here show that `find_tickets` checks the
datasets before anything trains, alone and against the model.
"""

import os
from unittest import mock

import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

import kdticket_tf
from kdticket_tf.store import layout
from kdticket_tf.training import fit as training
from kdticket_tf.store import weights as weights_lib
from tests import testing

CLASSES = testing.USER_CLASSES
FEATURES = testing.USER_FEATURES
_arrays = testing.user_arrays
_dataset = testing.user_dataset


def _model(output_activation=None, name="logits", model_name=None):
  inputs = keras.Input((FEATURES,), name="x")
  hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
  return keras.Model(inputs, keras.layers.Dense(
      CLASSES, activation=output_activation, name=name)(hidden),
                     name=model_name)


def _with_layer(layer):
  def build():
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(CLASSES, name="scores")(inputs)
    return keras.Model(inputs, layer()(hidden))
  return build


class _Subclassed(keras.Model):

  def __init__(self):
    super().__init__()
    self.dense = keras.layers.Dense(CLASSES)

  def call(self, inputs):
    return self.dense(inputs)


def _two_outputs():
  inputs = keras.Input((FEATURES,))
  hidden = keras.layers.Dense(8, name="hidden")(inputs)
  return keras.Model(inputs, [keras.layers.Dense(CLASSES, name="a")(hidden),
                              keras.layers.Dense(CLASSES, name="b")(hidden)])


_SHARED = _model()

_TRAIN = dict(train=kdticket_tf.TrainConfig(
    duration=kdticket_tf.Duration(1, "ep"), verbose=0),
              pruning=kdticket_tf.PruningConfig(levels=1),
              export=kdticket_tf.ExportConfig(saved_model=False))

# (case, model_fn, train_data, test_data, extra settings, the sentence's text).
MISTAKES = (
    ("softmax_output", lambda: _model("softmax"), None, None, {},
     "model_fn's output layer 'logits' has a softmax activation; find_tickets "
     "needs logits (its losses apply the softmax themselves): remove the "
     "activation."),
    ("sigmoid_output", lambda: _model("sigmoid"), None, None, {},
     "output layer 'logits' has a sigmoid activation"),
    ("softmax_layer", _with_layer(lambda: keras.layers.Softmax(name="probs")),
     None, None, {}, "output layer 'probs' has a softmax activation"),
    ("activation_layer", _with_layer(
        lambda: keras.layers.Activation("softmax", name="act")), None, None,
     {}, "output layer 'act' has a softmax activation"),
    ("subclassed", _Subclassed, None, None, {},
     "model_fn returned a subclassed model (_Subclassed); find_tickets "
     "accepts Sequential and functional tf_keras models only, the ones TF-MOT "
     "can wrap for pruning"),
    ("built_model", _SHARED, None, None, {},
     "model_fn is a built model (Functional 'model"),
    ("same_model_each_call", lambda: _SHARED, None, None, {},
     "model_fn returned the same model object on two calls"),
    ("two_outputs", _two_outputs, None, None, {},
     "has 2 outputs ('a', 'b'); find_tickets accepts one output, the logits "
     "[batch, classes]."),
    ("one_output_unit", lambda: keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(1)]), None, None, {},
     "model_fn's output has shape [None, 1]; find_tickets needs logits of "
     "shape [batch, classes], 2 classes or more"),
    ("no_input_shape", lambda: keras.Sequential([keras.layers.Dense(CLASSES)]),
     None, None, {}, "has no input shape; find_tickets accepts built models: "
     "start it with keras.Input."),
    ("one_hot_labels", None,
     _dataset(lambda x, y: (x, tf.one_hot(y, CLASSES))), None, {},
     "train_data's labels are one-hot (float32 of shape [None, 3]); "
     "find_tickets accepts integer class labels of shape [batch] (0 to 2): "
     "tf.argmax(labels, -1)."),
    ("arrays", None, _arrays(), None, {},
     "train_data is a tuple; find_tickets accepts a batched tf.data.Dataset"),
    ("infinite_train", None, _dataset().repeat(), None, {},
     "train_data is infinite; pass steps_per_epoch or give a finite dataset"),
    ("model_fn_with_arguments", lambda input_shape: _model(), None, None, {},
     "model_fn takes arguments (input_shape); find_tickets calls it with "
     "none: bind them first (functools.partial, or a lambda)."),
    ("softmax_in_a_nested_model", lambda: keras.Sequential(
        [keras.Input((FEATURES,)), _model("softmax")]), None, None, {},
     "model_fn's output layer 'logits' has a softmax activation"),
    ("nested_model_only", lambda: keras.Sequential(
        [keras.Input((FEATURES,)), _model()]), None, None, {},
     "prunes the kernels of its own Dense and Conv layers, not those inside "
     "nested models (model"),
    ("nested_model_beside_prunable_layers", lambda: keras.Sequential(
        [keras.Input((FEATURES,)), _model(model_name="backbone"),
         keras.layers.Dense(CLASSES)], name="outer"), None, None, {},
     "model_fn's model 'outer' nests the model 'backbone', whose prunable "
     "layers (hidden, logits) would stay dense: find_tickets prunes the top "
     "model's own layers only; build the model flat, or name 'backbone' in "
     "keep_dense to keep it dense."),
    ("keep_dense_no_layer", None, None, None,
     dict(pruning=kdticket_tf.PruningConfig(keep_dense=("output",))),
     "PruningConfig.keep_dense pattern 'output' matches none of the model's "
     "layers (x, hidden, logits); give a regex that matches a whole layer "
     "name."),
    ("nothing_to_prune", None, None, None,
     dict(pruning=kdticket_tf.PruningConfig(keep_dense=(".*",))),
     "PruningConfig.keep_dense=['.*'] leaves none of the prunable layers "
     "(hidden, logits) to prune; leave at least one Dense or Conv layer out "
     "of the patterns."),
    ("channel_output_only", lambda: keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(CLASSES, name="out")],
        name="scorer"), None, None,
     dict(pruning=kdticket_tf.PruningConfig(levels=1, structure="channel")),
     "PruningConfig.structure='channel' finds no channel to prune in model "
     "'scorer': its only prunable layer, 'out', is the model's output, whose "
     "classes are never pruned; choose another PruningConfig.structure"),
    ("channel_layer_fractions_empty_a_layer", None, None, None,
     dict(pruning=kdticket_tf.PruningConfig(
         levels=3, structure="channel", scope="layerwise",
         layer_fractions=(("hidden", 0.9),))),
     "PruningConfig.layer_fractions gives 'hidden' the fraction 0.9 per "
     "level, which under PruningConfig.structure='channel' is a fraction of "
     "its channels: it would prune all 8 of its prunable channels by level "
     "2, and a layer keeps at least one; give it a fraction below 0.5"),
    ("channel_keep_dense_no_layer", None, None, None,
     dict(pruning=kdticket_tf.PruningConfig(levels=1, structure="channel",
                                            keep_dense=("hiden",))),
     "PruningConfig.keep_dense pattern 'hiden' matches none of the model's "
     "layers (x, hidden, logits)"),
    ("no_prunable_layer", lambda: keras.Sequential(
        [keras.Input((FEATURES, CLASSES)),
         keras.layers.GlobalAveragePooling1D()]),
     None, None, {}, "has no layer to prune; find_tickets prunes the kernels of "
     "its own Dense and Conv layers: give it at least one."),
)


class MistakesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      (name, name, model_fn, train, test, settings, text)
      for name, model_fn, train, test, settings, text in MISTAKES)
  def test_refused_before_anything_trains(self, name, model_fn, train, test,
                                          settings, text):
    workdir = os.path.join(self.get_temp_dir(), name)
    arguments = dict(_TRAIN, **settings)
    with mock.patch.object(training, "train") as trained:
      with self.assertRaises(ValueError) as refused:
        kdticket_tf.find_tickets(
            model_fn if model_fn is not None else _model,
            train if train is not None else _dataset(),
            test if test is not None else _dataset(), workdir, **arguments)
    message = str(refused.exception)
    self.assertIn(text, message)
    self.assertNotIn("\n", message)  # one sentence, no traceback
    trained.assert_not_called()
    self.assertFalse(os.path.exists(os.path.join(workdir, layout.DENSE)))

  def test_a_compiled_model_with_integer_inputs_runs(self):
    def compiled():
      model = _model()
      model.compile("adam", "mse")  # find_tickets compiles it its own way
      return model

    workdir = os.path.join(self.get_temp_dir(), "compiled")
    rows = kdticket_tf.find_tickets(
        compiled, _dataset(lambda x, y: (tf.cast(10 * x, tf.int32), y)),
        _dataset(lambda x, y: (tf.cast(10 * x, tf.int32), y)), workdir,
        **_TRAIN)
    self.assertEqual([(r["recipe"], r["level"]) for r in rows],
                     [("dense", 0), ("lt", 1)])


class EpochFunctionTest(tf.test.TestCase, parameterized.TestCase):
  """The README's `lambda epoch: ds.shuffle(n, seed=epoch).batch(b)`."""

  def _search(self, workdir, seed, interrupt_at_epoch=None):
    inputs, labels = _arrays()
    examples = tf.data.Dataset.from_tensor_slices((inputs, labels))
    asked = []
    interrupt = [interrupt_at_epoch]

    def train_data(epoch):
      asked.append(epoch)
      if epoch == interrupt[0] and os.path.exists(
          os.path.join(workdir, "rewind")):
        interrupt[0] = None  # once: the rerun goes on
        raise KeyboardInterrupt(f"interrupted at epoch {epoch}")
      return examples.shuffle(32, seed=epoch).batch(8)

    search = lambda: kdticket_tf.find_tickets(  # pylint: disable=g-long-lambda
        _model, train_data, _dataset(), workdir, recipes=("rewind",),
        train=kdticket_tf.TrainConfig(
            duration=kdticket_tf.Duration(10, "it"), seed=seed,
            deterministic=True, verbose=0),
        pruning=kdticket_tf.PruningConfig(
            levels=1, rewind_step=kdticket_tf.Duration(3, "it")),
        export=kdticket_tf.ExportConfig(saved_model=False))
    if interrupt_at_epoch is not None:
      with self.assertRaisesRegex(KeyboardInterrupt, "interrupted"):
        search()
      del asked[:]
    rows = search()
    final = weights_lib.load_arrays(
        layout.Layout(workdir).final_weights(layout.StageKey("rewind", 1)))
    return rows, final, asked

  @parameterized.parameters((0, True), (3, False))
  def test_runs_and_a_resumed_stage_sees_the_same_batches(self, seed,
                                                          compare):
    # 4 steps per epoch; the rewind stage trains steps 3 to 10: one epoch
    # (steps 3-6, epochs 0 and 1), checkpointed, then steps 7-9, which
    # start in the middle of epoch 1 and reach epoch 2, where the first run
    # is interrupted. Seed 0 is the global seed TensorFlow's shuffle seeds
    # failed on when the epoch came as a tensor.
    rows, resumed, asked = self._search(
        os.path.join(self.get_temp_dir(), f"resumed_{seed}"), seed,
        interrupt_at_epoch=2)
    self.assertEqual([(r["recipe"], r["level"]) for r in rows],
                     [("dense", 0), ("rewind", 1)])
    # The resumed run asked for epoch 0 for its checks only, then epochs 1
    # and 2, where the interrupted stage went on from its checkpoint.
    self.assertEqual([e for e in asked if e], [1, 2])
    if compare:  # the same weights, bit for bit, as an uninterrupted run
      whole_rows, uninterrupted, _ = self._search(
          os.path.join(self.get_temp_dir(), f"whole_{seed}"), seed)
      self.assertEqual(whole_rows[1]["test_accuracy"],
                       rows[1]["test_accuracy"])
      for expected, actual in zip(uninterrupted, resumed):
        self.assertAllEqual(expected, actual)


if __name__ == "__main__":
  tf.test.main()
