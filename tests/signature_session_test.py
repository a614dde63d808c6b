"""Tests of SignatureSession (a ticket run as TF Serving runs it) and session_profile."""

import json
import os
import subprocess
import sys
import tempfile
from unittest import mock

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


# The calling thread's CPU time over wall time, median of alternating
# blocks of calls, through the inter-op pool and on the caller's thread.
_CALLER_SHARES = """
import json, sys, time
import numpy as np
import kdticket_tf
kdticket_tf.start_tensorflow()
kdticket_tf.use_one_thread()
sessions = {mode: kdticket_tf.SignatureSession(sys.argv[1],
                                               caller_thread=mode == "caller")
            for mode in ("pool", "caller")}
batch = np.zeros([2048] + sessions["pool"].input_shape, np.float32)
shares = {mode: [] for mode in sessions}
for _ in range(5):
  for mode, session in sessions.items():
    session(batch)
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(10):
      session(batch)
    shares[mode].append((time.thread_time() - cpu) /
                        (time.perf_counter() - wall))
print(json.dumps({mode: float(np.median(v)) for mode, v in shares.items()}))
"""


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
                 "_SOURCE",
                 "Func/StatefulPartitionedCall/StatefulPartitionedCall/input/_9"):
      self.assertEqual(signature_session.layer_of(node),
                       signature_session.RUNTIME, node)
    # A node Grappler rewrote keeps the name it stands for behind a prefix.
    self.assertEqual(signature_session.layer_of(
        f"ConstantFolding/{call}/truediv_recip"),
                     signature_session.SIGNATURE_OPS)
    self.assertEqual(signature_session.layer_of(
        f"ConstantFolding/{call}/net/conv/Conv2D_bn_offset"), "conv")

  def test_layer_times_add_up_the_nodes_of_each_layer(self):
    call = "StatefulPartitionedCall/StatefulPartitionedCall"
    nodes = {f"{call}/net/conv/Conv2D": 3e-6,
             f"{call}/net/bn/FusedBatchNorm": 5e-6,
             f"{call}/net/logits/MatMul": 7e-6,
             f"{call}/net/logits/BiasAdd": 1e-6, f"{call}/truediv": 2e-6,
             f"ConstantFolding/{call}/truediv_recip": 4e-6,
             "_SOURCE": 1e-7, "conv/kernel": 2e-7}
    with mock.patch.object(self.session, "op_times", return_value=nodes):
      times = self.session.layer_times(self.raw)
      grouped = self.session.layer_times(self.raw, group="^(conv|bn)")
    self.assertEqual(set(times), {"conv", "bn", "logits",
                                  signature_session.SIGNATURE_OPS,
                                  signature_session.RUNTIME})
    self.assertAllClose([times["conv"], times["bn"], times["logits"],
                         times[signature_session.SIGNATURE_OPS],
                         times[signature_session.RUNTIME]],
                        [3e-6, 5e-6, 8e-6, 6e-6, 3e-7])
    self.assertAllClose([grouped["conv"], grouped["bn"], grouped["logits"]],
                        [3e-6, 5e-6, 8e-6])

  def test_op_times_are_kernel_times_from_start_to_end(self):
    # Traced runs of a callable that reports two nodes: a kernel's time is
    # its end less its start in ns, not the end from its scheduling in whole
    # µs.
    def traced_run(unused_batch, run_metadata=None):
      if run_metadata is not None:
        device = run_metadata.step_stats.dev_stats.add()
        for name, start, end in (("a", 1500, 4000), ("b", 20, 520)):
          device.node_stats.add(
              node_name=name, op_start_rel_nanos=start, op_end_rel_nanos=end,
              op_end_rel_micros=end // 1000)
    with mock.patch.object(self.session, "_traced", side_effect=traced_run):
      times = self.session.op_times(self.raw, runs=4)
    self.assertEqual(set(times), {"a", "b"})
    self.assertAlmostEqual(times["a"], 2.5e-6, delta=1e-15)
    self.assertAlmostEqual(times["b"], 5e-7, delta=1e-15)

  def test_calls_go_to_the_cpp_callable_not_session_run(self):
    # `session.run` parses feeds and fetches in Python on every call, a cost
    # TF Serving never pays; neither a call nor a traced run may use it.
    with mock.patch.object(self.session.session, "run",
                           side_effect=AssertionError("session.run called")):
      self.assertEqual(self.session(self.raw).shape, (4, 3))
      nodes = self.session.op_times(self.raw, runs=1)
    self.assertIn("logits", {signature_session.layer_of(node)
                             for node in nodes})

  def test_caller_thread_runs_the_graph_on_the_calling_thread(self):
    with signature_session.SignatureSession(
        self.folders[0], caller_thread=True) as session:
      self.assertTrue(session.caller_thread)
      self.assertAllClose(session(self.raw), self.session(self.raw),
                          rtol=1e-6, atol=1e-6)
    self.assertFalse(self.session.caller_thread)
    # Through the inter-op pool the calling thread only waits; on the
    # caller's thread it runs the graph, and its CPU time shows it. On one
    # thread (as the benchmark runs), so that no intra-op thread shares the
    # kernels' work, in alternating blocks.
    result = subprocess.run(
        [sys.executable, "-c", _CALLER_SHARES, self.folders[0]],
        capture_output=True, text=True, check=False, timeout=300,
        env=dict(os.environ, PYTHONPATH=testing.ROOT))
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    shares = json.loads(result.stdout.splitlines()[-1])
    self.assertGreater(shares["caller"], 4 * shares["pool"], shares)

  def test_a_batch_of_the_wrong_shape_is_refused(self):
    with self.assertRaisesRegex(
        ValueError, r"^images of shape \[4, 8, 8\] do not fit the "
        r"signature's input; give a batch of shape \[None, 8, 8, 1\]"):
      self.session(self.raw[..., 0])
    with self.assertRaisesRegex(ValueError, r"\[4, 8, 7, 1\]"):
      self.session(self.raw[:, :, :7])

  def test_a_folder_without_the_signature_is_refused(self):
    folder = os.path.join(self.get_temp_dir(), "other_signature")
    module = tf.Module()
    module.double = tf.function(
        lambda x: {"y": 2.0 * x},
        input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    tf.saved_model.save(module, folder, signatures={"other": module.double})
    with self.assertRaisesRegex(
        ValueError, "has no 'serving_default' signature \\(it has \\['other'\\]\\)"):
      signature_session.SignatureSession(folder)
    with self.assertRaisesRegex(ValueError, "holds no saved_model.pb"):
      signature_session.SignatureSession(self.get_temp_dir() + "/nothing")
    renamed = os.path.join(self.get_temp_dir(), "renamed_input")
    tf.saved_model.save(module, renamed,
                        signatures={export.SIGNATURE: module.double})
    with self.assertRaisesRegex(
        ValueError, "signature has no 'images' input \\(it has \\['x'\\]\\)"):
      signature_session.SignatureSession(renamed)
    corrupt = os.path.join(self.get_temp_dir(), "corrupt")
    os.makedirs(corrupt)
    with open(os.path.join(corrupt, "saved_model.pb"), "wb") as stream:
      stream.write(b"not a protocol buffer")
    with self.assertRaisesRegex(ValueError, "cannot be read as a SavedModel"):
      signature_session.SignatureSession(corrupt)
    with self.assertRaisesRegex(
        ValueError, "has no 'scores' output; give one of \\['classes', "
        "'logits', 'probabilities'\\]"):
      signature_session.SignatureSession(self.folders[0], output="scores")

  def test_the_empty_signature_only_reshapes_its_input(self):
    folder = os.path.join(self.get_temp_dir(), "empty", "0")
    signature_session.write_empty_signature(folder, list(SHAPE), 3)
    with signature_session.SignatureSession(folder) as session:
      self.assertEqual((session.input_shape, session.output_shape),
                       (list(SHAPE), [3]))
      self.assertAllEqual(session(self.raw),
                          self.raw.reshape(len(self.raw), -1)[:, :3])
    self.assertEqual(self.session.output_shape, [3])  # a ticket's logits

  def test_the_session_is_a_context_manager(self):
    with signature_session.SignatureSession(self.folders[1]) as session:
      self.assertEqual(session(self.raw).shape, (4, 3))
    with self.assertRaisesRegex(RuntimeError, "is closed; open a new"):
      session(self.raw)
    with self.assertRaisesRegex(RuntimeError, "is closed"):
      session.op_times(self.raw)

  def test_layer_times_go_to_the_models_layers(self):
    times = self.session.layer_times(self.raw, runs=3)
    self.assertIn("logits", times)
    self.assertIn(signature_session.SIGNATURE_OPS, times)  # normalisation
    # The fused Conv2D + BatchNormalization + ReLU kernel is one of its layers.
    self.assertTrue({"conv", "bn", "relu"} & set(times), times)
    self.assertFalse(set(times) - {"conv", "bn", "relu", "flatten", "logits",
                                   signature_session.SIGNATURE_OPS,
                                   signature_session.RUNTIME}, times)
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
      if os.cpu_count() > 1:  # one thread: one CPU busy, not two
        self.assertLess(max(model["cpu_per_wall"]), 1.2)
    meta = found["meta"]
    self.assertEqual((meta["batch_size"], meta["runs"], meta["rounds"]),
                     (4, 2, 5))
    self.assertEqual([len(m["cpu_per_wall"]) for m in found["models"]], [5, 5])
    self.assertEqual(meta["tensorflow_threads"],
                     {"intra_op": 1, "inter_op": 1})
    self.assertLessEqual(meta["fastest_probe_seconds"],
                         meta["slowest_probe_seconds"])
    self.assertEqual(meta["onednn_settings"],
                     signature_session.onednn_settings())
    table = testing.run_tool(
        "session_profile.py", "--runs=2", "--batch_size=4",
        "--saved_model=" + ",".join(self.folders))
    self.assertEqual(table.returncode, 0, table.stderr[-3000:])
    self.assertIn("| layers | w8:dense/0 | w2:dense/0 |", table.stdout)
    self.assertIn("µs per call at batch 4 in a TF Session on 1 intra-op and "
                  "1 inter-op thread(s)", table.stdout)
    self.assertRegex(table.stdout, r"\| logits \| \d+ \| \d+ \(\d+\.\d\d\) \|")

  def test_the_onednn_settings_are_what_the_environment_sets(self):
    # A profile or benchmark says which oneDNN kernels it ran: the variables
    # TensorFlow read, and only those.
    with mock.patch.dict(os.environ, {"ONEDNN_MAX_CPU_ISA": "AVX2",
                                      "ONEDNN_VERBOSE": "0"}):
      os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
      self.assertEqual(signature_session.onednn_settings(),
                       {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    with mock.patch.dict(os.environ, {"TF_ENABLE_ONEDNN_OPTS": "0"}):
      os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
      self.assertEqual(signature_session.onednn_settings(),
                       {"TF_ENABLE_ONEDNN_OPTS": "0"})

  def test_a_profile_run_under_set_onednn_kernels_says_so(self):
    result = testing.run_tool(
        "session_profile.py", "--runs=1", "--rounds=1", "--batch_size=4",
        f"--saved_model={self.folders[0]}",
        env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("CPUs. oneDNN set by the environment: "
                  "ONEDNN_MAX_CPU_ISA=AVX2.", result.stdout)

  def test_the_profile_tool_refuses_what_it_cannot_profile(self):
    missing = os.path.join(self.get_temp_dir(), "nothing_here")
    result = testing.run_tool("session_profile.py", f"--saved_model={missing}")
    self.assertEqual(result.returncode, 1)
    self.assertIn(f"{missing} holds no saved_model.pb", result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    result = testing.run_tool("session_profile.py", "--saved_model=")
    self.assertEqual(result.returncode, 1)
    self.assertIn("--saved_model is empty", result.stderr)
    result = testing.run_tool("session_profile.py", "--runs=0",
                              f"--saved_model={self.folders[0]}")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("--runs", result.stderr)
    result = testing.run_tool("session_profile.py", "--group=(",
                              f"--saved_model={self.folders[0]}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("--group=( is not a regular expression", result.stderr)


if __name__ == "__main__":
  tf.test.main()
