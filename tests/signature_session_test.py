"""Tests of SignatureSession (a ticket run as TF Serving runs it) and session_profile."""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf.export import saved_model as export
from kdticket_tf.export import signature_session
from tests import testing

SHAPE = (8, 8, 1)
NORMALIZATION = {"mean": 0.5, "std": 0.25, "scale": 255.0}


def conv_model(filters):
  """Conv, BatchNormalization, ReLU, Flatten, Dense: Grappler fuses the first three."""
  inputs = keras.Input(SHAPE, name="x")
  x = keras.layers.Conv2D(filters, 3, name="conv")(inputs)
  x = keras.layers.BatchNormalization(name="bn")(x)
  x = keras.layers.ReLU(name="relu")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x),
                     name="net")


class SignatureSessionTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    root = tempfile.mkdtemp(prefix="kdticket_signature_session_")
    cls.folders = []
    for filters in (8, 2):
      keras.utils.set_random_seed(filters)
      model = conv_model(filters)
      folder = os.path.join(root, f"w{filters}", "export", "serving",
                            "dense", "0")
      export.export_ticket(model, folder, SHAPE, {"filters": filters},
                           normalization=NORMALIZATION)
      cls.folders.append(folder)
      if filters == 8:
        cls.model = model
    cls.raw = np.random.default_rng(0).integers(
        0, 256, size=(4,) + SHAPE).astype(np.float32)
    cls.session = signature_session.SignatureSession(cls.folders[0])

  @classmethod
  def tearDownClass(cls):
    cls.session.close()
    super().tearDownClass()

  def test_outputs_are_the_models_on_normalised_inputs(self):
    self.assertEqual(self.session.input_shape, list(SHAPE))
    normalised = ((self.raw / NORMALIZATION["scale"] - NORMALIZATION["mean"]) /
                  NORMALIZATION["std"])
    self.assertAllClose(self.session(self.raw), self.model(normalised),
                        rtol=1e-5, atol=1e-5)

  def test_layer_of_reads_the_serving_graphs_node_names(self):
    call = "StatefulPartitionedCall/StatefulPartitionedCall"
    self.assertEqual(signature_session.layer_of(f"{call}/net/relu/Relu"),
                     "relu")
    self.assertEqual(signature_session.layer_of(f"{call}/net/logits/MatMul"),
                     "logits")
    self.assertEqual(signature_session.layer_of(f"{call}/truediv"),
                     signature_session.SIGNATURE_OPS)
    for node in ("Func/StatefulPartitionedCall/input/_4", "logits/kernel",
                 "_SOURCE"):
      self.assertEqual(signature_session.layer_of(node),
                       signature_session.RUNTIME, node)

  def test_layer_times_go_to_the_models_layers(self):
    times = self.session.layer_times(self.raw, runs=3)
    self.assertIn("logits", times)
    self.assertIn(signature_session.SIGNATURE_OPS, times)  # normalisation
    # The fused Conv2D + BatchNormalization + ReLU kernel is one of its layers.
    self.assertTrue({"conv", "bn", "relu"} & set(times), times)
    self.assertFalse(set(times) - {"conv", "bn", "relu", "flatten", "logits",
                                   signature_session.SIGNATURE_OPS,
                                   signature_session.RUNTIME}, times)
    self.assertTrue(all(seconds >= 0.0 for seconds in times.values()))
    self.assertGreater(sum(times.values()), 0.0)
    grouped = self.session.layer_times(self.raw, runs=2, group="^[a-z]")
    self.assertIn("l", grouped)
    self.assertNotIn("logits", grouped)
    self.assertIn(signature_session.SIGNATURE_OPS, grouped)  # never grouped

  def test_the_profile_tool_compares_two_tickets(self):
    result = testing.run_tool(
        "session_profile.py", "--format=json", "--runs=2", "--batch_size=4",
        "--saved_model=" + ",".join(self.folders))
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    found = json.loads(result.stdout)
    self.assertEqual([m["saved_model"] for m in found["models"]],
                     self.folders)
    for model in found["models"]:
      self.assertGreater(model["seconds_per_call"], 0.0)
      self.assertIn("logits", model["groups"])
    table = testing.run_tool(
        "session_profile.py", "--runs=2", "--batch_size=4",
        "--saved_model=" + ",".join(self.folders))
    self.assertEqual(table.returncode, 0, table.stderr[-3000:])
    self.assertIn("| layers | w8:dense/0 | w2:dense/0 |", table.stdout)
    self.assertRegex(table.stdout, r"\| logits \| \d+ \| \d+ \(\d+\.\d\d\) \|")

  def test_the_profile_tool_refuses_what_it_cannot_profile(self):
    missing = os.path.join(self.get_temp_dir(), "nothing_here")
    result = testing.run_tool("session_profile.py", f"--saved_model={missing}")
    self.assertEqual(result.returncode, 1)
    self.assertIn(f"--saved_model={missing} holds no saved_model.pb",
                  result.stderr)
    result = testing.run_tool("session_profile.py", "--group=(",
                              f"--saved_model={self.folders[0]}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("--group=( is not a regular expression", result.stderr)


if __name__ == "__main__":
  tf.test.main()
