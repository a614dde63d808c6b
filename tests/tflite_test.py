"""Tests of TFLite tickets: block-sparse storage, predictions, int8, zeros."""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from kdticket_tf import config
from kdticket_tf.export import saved_model as export
from kdticket_tf.store import layout
from kdticket_tf import api
from kdticket_tf.export import tflite
from kdticket_tf.pruning import structures
from tests import testing


class TfliteTicketTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp(prefix="kdticket_tflite_")
    base = testing.synthetic_config(("lt",), export=True)
    cls.config = dataclasses.replace(
        base,
        pruning=config.PruningConfig(
            schedule="oneshot", target_sparsities=(0.9,), structure="1x4",
            keep_dense=("logits",)),
        export=config.ExportConfig(saved_model=True, tflite=True,
                                   tflite_int8=True))
    cls.search = api.prepare(cls.config, cls.workdir)
    cls.search.run()
    cls.key = layout.StageKey("lt", 1)
    cls.ticket_dir = cls.search.layout.serving_path(cls.key)
    cls.ticket = export.read_ticket(cls.ticket_dir)
    cls.path = cls.search.layout.tflite(cls.key)
    cls.raw = cls.search.data.raw_test[0][:32].astype(np.float32)

  def test_fc_weights_of_a_1x4_ticket_are_stored_block_sparse(self):
    self.assertEqual(self.ticket["config"]["pruning"]["structure"], "1x4")
    layers = self.ticket["tflite_layers"]
    for name in ("fc1", "fc2"):
      self.assertEqual(layers[name]["storage"], "block-sparse", layers)
      self.assertEqual(layers[name]["block"], [1, 4])
      self.assertEqual(layers[name]["op"], "FULLY_CONNECTED")
    self.assertEqual(layers["logits"]["storage"], "dense")
    # Read again from the file, not only from ticket.json.
    with open(self.path, "rb") as stream:
      self.assertEqual(tflite.storage_report(stream.read(), ["fc1", "fc2",
                                                             "logits"]),
                       layers)

  def test_the_dense_model_is_stored_dense(self):
    dense = export.read_ticket(
        self.search.layout.serving_path(layout.DENSE_KEY))
    self.assertEqual({v["storage"] for v in dense["tflite_layers"].values()},
                     {"dense"})

  def test_tflite_predictions_equal_the_saved_models(self):
    loaded = tf.saved_model.load(self.ticket_dir)
    served = loaded.signatures[export.SIGNATURE]
    expected = served(images=tf.constant(self.raw))["logits"].numpy()
    got = tflite.predict(self.path, self.raw)
    self.assertAllClose(got, expected, atol=1e-4, rtol=1e-4)
    self.assertGreater(np.abs(expected).max(), 0.1)  # not all zeros

  def test_saved_model_kernels_are_exact_zeros_in_whole_blocks(self):
    loaded = tf.saved_model.load(self.ticket_dir)
    served = loaded.signatures[export.SIGNATURE]
    kernels = {v.name.split("/")[0]: v.numpy() for v in served.variables
               if len(v.shape) == 2}
    structure = structures.get("1x4")
    for name in ("fc1", "fc2"):
      self.assertTrue(structure.is_aligned(kernels[name] != 0), name)
    zeros = sum(int(np.sum(kernels[n] == 0)) for n in ("fc1", "fc2"))
    total = sum(kernels[n].size for n in ("fc1", "fc2"))
    self.assertNear(zeros / total, 0.9, 0.001)

  def test_int8_ticket_is_quantized_and_agrees(self):
    int8_path = self.search.layout.tflite(self.key, "_int8")
    self.assertLess(self.ticket["tflite_int8_bytes"],
                    self.ticket["tflite_bytes"])
    self.assertEqual(self.ticket["tflite_int8_layers"]["fc1"]["dtype"], "int8")
    float_classes = np.argmax(tflite.predict(self.path, self.raw), -1)
    int8_classes = np.argmax(tflite.predict(int8_path, self.raw), -1)
    self.assertGreaterEqual(np.mean(float_classes == int8_classes), 0.8)

  def test_interpreter_is_litert_when_installed(self):
    try:
      import ai_edge_litert  # pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      self.assertIs(tflite.interpreter_class(), tf.lite.Interpreter)
    else:
      self.assertEqual(tflite.interpreter_class().__module__,
                       "ai_edge_litert.interpreter")

  def _tool(self, name, *args):
    result = subprocess.run(
        [sys.executable, os.path.join(testing.ROOT, "tools", name), *args],
        capture_output=True, text=True, check=False, timeout=600,
        env=dict(os.environ, PYTHONPATH=testing.ROOT))
    self.assertEqual(result.returncode, 0, result.stderr)
    self.last_stderr = result.stderr
    return result.stdout

  def test_inspect_ticket_says_how_the_flatbuffer_stores_each_layer(self):
    report = json.loads(self._tool("inspect_ticket.py", self.path,
                                   "--format=json"))
    storage = {r["name"]: r["storage"]
               for r in report[self.path]["tflite_layers"]}
    self.assertEqual(storage, {"fc1": "block-sparse", "fc2": "block-sparse",
                               "logits": "dense"})
    table = self._tool("inspect_ticket.py", self.ticket_dir)
    self.assertRegex(table, r"fc1 .*FULLY_CONNECTED .*block-sparse 1x4")

  def test_benchmark_inference_reports_ratios_to_dense(self):
    report = json.loads(self._tool(
        "benchmark_inference.py", f"--workdir={self.workdir}", "--rounds=2",
        "--batch_sizes=1", "--threads=1", "--seconds_per_timing=0.005",
        "--format=json"))
    # LiteRT's C++ "Created TensorFlow Lite XNNPACK delegate" line is held.
    self.assertNotIn("XNNPACK", self.last_stderr)
    models = {m["name"]: m for m in report["models"]}
    self.assertEqual(list(models), ["dense/0", "lt/1"])
    dense, ticket = models["dense/0"], models["lt/1"]
    self.assertEqual(dense["latency"]["tflite_b1_t1"]["ratio_to_dense"], 1.0)
    self.assertGreater(ticket["latency"]["tflite_b1_t1"]["seconds"], 0.0)
    self.assertIn("saved_model_b1", ticket["latency"])
    self.assertEqual(ticket["storage"], ["block-sparse", "dense"])
    self.assertLess(ticket["tflite_bytes"], 0.5 * dense["tflite_bytes"])
    self.assertLess(ticket["tflite_gzip_bytes"], ticket["tflite_bytes"])
    low, high = ticket["latency"]["tflite_b1_t1"]["ratio_quartiles"]
    self.assertLessEqual(low, high)
    # Every latency again at full CPU speed, from the timings whose CPU
    # probes were near the run's fastest; the header's fraction counts them.
    cpu = report["meta"]["cpu_speed"]
    self.assertGreaterEqual(cpu["median_probe_over_fastest"], 1.0)
    full = [value for model in models.values()
            for value in model["full_speed_latency"].values()]
    self.assertLen(full, 2 * len(dense["latency"]))
    self.assertAlmostEqual(cpu["full_speed_fraction"],
                           sum(v["timings"] for v in full) / (2 * len(full)))
    for value in full:
      self.assertBetween(value["timings"], 0, 2)
      self.assertEqual(value["seconds"] is None, value["timings"] == 0)
    dense_full = dense["full_speed_latency"]["tflite_b1_t1"]
    if dense_full["timings"]:
      self.assertEqual(dense_full["ratio_to_dense"], 1.0)
    # A saved run prints as the tables, without timing anything.
    saved = os.path.join(self.get_temp_dir(), "benchmark.json")
    with open(saved, "w", encoding="utf-8") as stream:
      json.dump(report, stream)
    tables = self._tool("benchmark_inference.py", f"--from_json={saved}")
    self.assertIn("| lt/1 | 1x4 | ", tables)
    self.assertIn("Spread of the TFLite ratios", tables)
    self.assertRegex(tables, r"At full CPU speed \(\d+% of the timings")
    self.assertEqual(tables.count("| model |"), 3)


if __name__ == "__main__":
  tf.test.main()
