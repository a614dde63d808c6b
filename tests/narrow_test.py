"""A compacted channel ticket written back as the user's narrower Keras 3 model.

A functional ConvNet (Conv2D, BatchNormalization, a residual Add, Flatten,
Dense) and a compiled Sequential MLP are translated, half of their channel
groups zeroed by hand and compacted; each compacted network goes into the
user's own model rebuilt at its widths and out as a `.keras` file. A plain
Keras 3 process loads both: they have the compacted widths (the pruned
channels absent, not zero), the compacted weights exactly, and predict as the
compacted network within 1e-5. A width the user's model has no layer for is
refused, and a file whose outputs would differ is not written. `find_tickets`
with a Keras 3 model and `structure="channel"` writes the file beside the
compacted SavedModel and names it in both tickets' `ticket.json`.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import kdticket_tf
from kdticket_tf.export import compaction
from kdticket_tf.keras3 import keras_file
from kdticket_tf.keras3 import narrow
from kdticket_tf.keras3 import translate
from tests import testing

L = keras.layers
IMAGE = (6, 6, 2)


def convnet():
  """Conv-BN twice joined by a residual Add, pooling, Flatten, a Dense head."""
  inputs = keras.Input(IMAGE, name="images")
  x = L.Conv2D(6, 3, padding="same", name="conv1")(inputs)
  x = L.ReLU(name="relu1")(L.BatchNormalization(name="bn1")(x))
  y = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv2")(x)
  y = L.Add(name="add")([x, L.BatchNormalization(name="bn2")(y)])
  y = L.Flatten(name="flatten")(L.MaxPooling2D(2, name="pool")(y))
  y = L.Dense(8, activation="relu", name="fc")(y)
  return keras.Model(inputs, L.Dense(3, name="logits")(y), name="convnet")


def mlp():
  """A compiled Sequential MLP with an L2 regularizer the file must keep."""
  model = keras.Sequential(
      [keras.Input((12,)),
       L.Dense(16, activation="relu", name="hidden",
               kernel_regularizer=keras.regularizers.L2(1e-4)),
       L.Dense(10, activation="tanh", name="hidden2"),
       L.Dense(4, name="logits")],
      name="mlp")
  model.compile(optimizer=keras.optimizers.SGD(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  return model


def _inputs(shape, count=8, seed=0):
  return np.random.default_rng(seed).normal(size=(count,) + shape).astype(
      np.float32)


def _dropout_mlp(noise_shapes):
  """Two hidden Dense layers (8 and 6 units), each followed by a Dropout of
  the given noise shape."""
  return keras.Sequential(
      [keras.Input((12,)), L.Dense(8, activation="relu", name="fc1"),
       L.Dropout(0.5, noise_shape=noise_shapes[0], name="drop1"),
       L.Dense(6, activation="relu", name="fc2"),
       L.Dropout(0.5, noise_shape=noise_shapes[1], name="drop2"),
       L.Dense(4, name="logits")], name="dropout_mlp")


def _narrowed_dropout_mlp(noise_shapes, keep_dense, removed):
  """`_dropout_mlp`'s ticket with channels `removed` zeroed and compacted.

  Returns:
    The masked tf_keras ticket, its `Compaction` and the user's Keras 3 model
    rebuilt at the compacted widths, holding the compacted weights.
  """
  ticket = translate.translate(_dropout_mlp(noise_shapes))
  graph = kdticket_tf.find_channel_groups(ticket, keep_dense)
  testing.zero_channel_groups(ticket, [g for g in graph.groups
                                       if g.producers[0] in removed])
  result = compaction.compact(ticket, graph, inputs=[_inputs((12,))])
  narrowed = narrow.build(_dropout_mlp(noise_shapes), result.model)
  translate.copy_weights(result.model, narrowed)
  return ticket, result, narrowed


def _compacted(model_fn, shape):
  """A hand-made channel ticket of `model_fn`'s model, compacted."""
  ticket = translate.translate(model_fn())
  graph, _ = testing.channel_ticket(ticket, seed=1)
  testing.set_moving_statistics(ticket)
  return compaction.compact(ticket, graph, inputs=[_inputs(shape)])


class NarrowTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.folder = tempfile.mkdtemp(prefix="kdticket_narrow_")
    cls.results, cls.recorded, paths = {}, {}, []
    for model_fn, shape in ((convnet, IMAGE), (mlp, (12,))):
      name = model_fn.__name__
      cls.results[name] = _compacted(model_fn, shape)
      paths.append(os.path.join(cls.folder, f"{name}.keras"))
      cls.recorded[name] = keras_file.write_compacted(
          model_fn(), cls.results[name].model, paths[-1], _inputs(shape))
    # A plain Keras 3 process loads each, on inputs of its shape.
    cls.printed, cls.loaded = {}, {}
    for (name, shape), path in zip((("convnet", IMAGE), ("mlp", (12,))),
                                   paths):
      folder = tempfile.mkdtemp(dir=cls.folder)
      cls.printed[name], [cls.loaded[name]] = testing.load_in_keras3(
          [path], _inputs(shape, seed=2), folder)

  def test_the_files_load_in_plain_keras3_and_are_recorded(self):
    for name in ("convnet", "mlp"):
      self.assertEqual(self.printed[name], f"{keras.__version__} []")
      self.assertEqual(self.recorded[name],
                       {"keras_file": f"{name}.keras",
                        "keras_version": keras.__version__})

  def test_the_files_hold_the_compacted_widths_and_weights_exactly(self):
    for name in ("convnet", "mlp"):
      result = self.results[name]
      _, weights = self.loaded[name]
      narrowed = [layer for layer, (before, after) in result.widths.items()
                  if after < before]
      self.assertNotEmpty(narrowed)
      for layer in result.model.layers:
        for index, value in enumerate(layer.get_weights()):
          self.assertAllEqual(weights[f"{layer.name}/{index}"], value)
      for layer, (before, after) in result.widths.items():
        with self.subTest(model=name, layer=layer):
          kernel = weights[f"{layer}/0"]
          self.assertEqual(kernel.shape[-1], after)
          # Pruned channels are absent, not zero: every one left computes.
          self.assertTrue(np.all(np.any(kernel.reshape(-1, after) != 0,
                                        axis=0)))
    # A BatchNormalization and the Dense after the Flatten are narrower too.
    _, weights = self.loaded["convnet"]
    stream = self.results["convnet"].widths["conv1"][1]
    self.assertEqual(weights["bn2/0"].shape, (stream,))
    self.assertEqual(weights["fc/0"].shape[0], 3 * 3 * stream)

  def test_the_files_predict_as_the_compacted_networks(self):
    for name, shape in (("convnet", IMAGE), ("mlp", (12,))):
      outputs, _ = self.loaded[name]
      expected = self.results[name].model(_inputs(shape, seed=2),
                                          training=False)
      self.assertAllClose(outputs, expected, atol=1e-5, rtol=0)

  def test_every_field_the_user_set_is_kept(self):
    narrowed = narrow.build(mlp(), self.results["mlp"].model)
    self.assertIsInstance(narrowed, keras.Sequential)
    hidden = narrowed.get_layer("hidden")
    self.assertEqual(hidden.units, self.results["mlp"].widths["hidden"][1])
    self.assertEqual(keras.regularizers.serialize(hidden.kernel_regularizer),
                     keras.regularizers.serialize(keras.regularizers.L2(1e-4)))
    self.assertEqual(narrowed.get_layer("hidden2").get_config()["activation"],
                     "tanh")
    self.assertTrue(narrowed.compiled)
    self.assertIsInstance(narrowed.optimizer, keras.optimizers.SGD)
    functional = narrow.build(convnet(), self.results["convnet"].model)
    self.assertEqual(type(functional).__name__, "Functional")
    self.assertFalse(functional.get_layer("conv2").use_bias)

  def test_a_dropout_noise_shape_takes_the_compacted_width(self):
    def dropout_mlp():
      return keras.Sequential(
          [keras.Input((12,)), L.Dense(16, activation="relu", name="hidden"),
           L.Dropout(0.5, noise_shape=(None, 16), name="drop"),
           L.Dense(4, name="logits")], name="dropout_mlp")
    result = _compacted(dropout_mlp, (12,))
    width = result.widths["hidden"][1]
    self.assertLess(width, 16)
    narrowed = narrow.build(dropout_mlp(), result.model)
    self.assertEqual(tuple(narrowed.get_layer("drop").noise_shape),
                     (None, width))
    self.assertEqual(narrowed(_inputs((12,)), training=True).shape, (8, 4))

  def test_a_dropout_noise_shape_without_the_channel_count_is_kept(self):
    # 1 broadcasts one draw over the units, None draws one per unit: either
    # fits any width, so the narrowed model's dropouts are the user's.
    ticket, result, narrowed = _narrowed_dropout_mlp(
        ((None, 1), (None, None)), (),
        {("fc1", 0), ("fc1", 1), ("fc2", 0), ("fc2", 1)})
    self.assertEqual(result.widths, {"fc1": (8, 6), "fc2": (6, 4),
                                     "logits": (4, 4)})
    self.assertEqual(tuple(narrowed.get_layer("drop1").noise_shape),
                     (None, 1))
    self.assertEqual(tuple(narrowed.get_layer("drop2").noise_shape),
                     (None, None))
    inputs = _inputs((12,), seed=3)
    self.assertAllClose(narrowed(inputs, training=False),
                        ticket(inputs, training=False), atol=1e-5, rtol=0)
    self.assertEqual(narrowed(inputs, training=True).shape, (8, 4))

  def test_a_dropout_after_a_layer_left_dense_keeps_its_channel_count(self):
    # fc1 is named in keep_dense and stays 8 wide; fc2 goes from 6 to 4.
    ticket, result, narrowed = _narrowed_dropout_mlp(
        ((None, 8), (None, 6)), ("fc1",), {("fc2", 0), ("fc2", 1)})
    self.assertEqual(result.widths, {"fc1": (8, 8), "fc2": (6, 4),
                                     "logits": (4, 4)})
    self.assertEqual(tuple(narrowed.get_layer("drop1").noise_shape),
                     (None, 8))
    self.assertEqual(tuple(narrowed.get_layer("drop2").noise_shape),
                     (None, 4))
    inputs = _inputs((12,), seed=3)
    self.assertAllClose(narrowed(inputs, training=False),
                        ticket(inputs, training=False), atol=1e-5, rtol=0)
    self.assertEqual(narrowed(inputs, training=True).shape, (8, 4))

  def test_a_width_the_model_has_no_layer_for_is_refused(self):
    inputs = tf_keras.Input((12,))
    other = tf_keras.Model(inputs, tf_keras.layers.Dense(
        2, name="elsewhere")(tf_keras.layers.Dense(4, name="logits")(inputs)))
    with self.assertRaisesRegex(
        ValueError, r"^The compacted network of Keras 3 model 'mlp' has layer "
        r"'elsewhere' at units=2, but the model has no layer 'elsewhere' "
        "with a units field; kdticket_tf writes a compacted .keras file only "
        "by changing the units or filters of the model's own layers.$"):
      narrow.build(mlp(), other)

  def test_a_file_whose_outputs_differ_is_not_written(self):
    user = mlp()
    other = translate.translate(user)
    other.get_layer("hidden2").activation = tf_keras.activations.relu
    path = os.path.join(self.get_temp_dir(), "differs.keras")
    with self.assertRaisesRegex(RuntimeError, "differs from the tf_keras one "
                                r"by .* this is a bug in kdticket_tf"):
      keras_file.write(user, other, path, _inputs((12,)))
    self.assertFalse(os.path.exists(path))


class CompactedKerasFileSearchTest(tf.test.TestCase):
  """`find_tickets` with a Keras 3 model and channel tickets, end to end."""

  def test_the_compacted_ticket_has_its_keras_file(self):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=64)
    images = rng.normal(size=(64,) + IMAGE).astype(np.float32)
    images[np.arange(64), ..., labels % 2] += 1.0
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32)
    workdir = os.path.join(self.get_temp_dir(), "search")
    kdticket_tf.find_tickets(
        convnet, data, data, workdir,
        train=kdticket_tf.TrainConfig(duration=kdticket_tf.Duration(1, "ep"),
                                      verbose=0),
        pruning=kdticket_tf.PruningConfig(levels=1, fraction=0.5,
                                          structure="channel"))
    layout, key = kdticket_tf.Layout(workdir), kdticket_tf.StageKey("lt", 1)
    ticket = kdticket_tf.read_ticket(layout.serving_path(key))
    compact_path = layout.compact_serving_path(key)
    own = kdticket_tf.read_ticket(compact_path)
    self.assertEqual((own["keras_file"], own["keras_version"]),
                     ("model.keras", keras.__version__))
    self.assertEqual(ticket["keras_file"], "model.keras")
    self.assertEqual(os.path.normpath(os.path.join(
        layout.serving_path(key), ticket["compacted"]["keras_file"])),
                     layout.compact_keras_file(key))
    printed, [(outputs, weights)] = testing.load_in_keras3(
        [layout.compact_keras_file(key)], images[:16],
        tempfile.mkdtemp(dir=self.get_temp_dir()))
    self.assertEqual(printed, f"{keras.__version__} []")
    widths = ticket["compacted"]["widths"]
    self.assertLess(widths["conv1"][1], widths["conv1"][0])
    for layer, (_, after) in widths.items():
      self.assertEqual(weights[f"{layer}/0"].shape[-1], after)
    served = tf.saved_model.load(compact_path).signatures[
        kdticket_tf.SIGNATURE](images=tf.constant(images[:16]))["logits"]
    self.assertAllClose(outputs, served, atol=1e-5, rtol=0)


if __name__ == "__main__":
  tf.test.main()
