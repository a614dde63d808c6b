"""Tests of TFLite tickets: block-sparse storage, predictions, int8, zeros."""

import collections
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema_lib

from kdticket_tf import config
from kdticket_tf.export import saved_model as export
from kdticket_tf.store import layout
from kdticket_tf import api
from kdticket_tf.export import tflite
from kdticket_tf.pruning import structures
from kdticket_tf.store import weights as weights_lib
from tests import testing

_DTYPES = {"FLOAT32": np.float32, "INT8": np.int8}


def _decode(tensor, buffer):
  """The dense array of a constant tensor, decoding TFLite's sparse format.

  TFLite's `FormatConverter` (sparse to dense): the stored values follow the
  traversal order; a dense level counts every index, a CSR level only those in
  its `arrayIndices` segment; a block level's index is added within the
  block of the original dimension `blockMap` names.
  """
  types = {v: k for k, v in vars(schema_lib.TensorType).items()
           if not k.startswith("_")}
  values = np.frombuffer(bytes(buffer.data), _DTYPES[types[tensor.type]])
  shape = [int(d) for d in tensor.shape]
  sparsity = tensor.sparsity
  if sparsity is None:
    return values.reshape(shape)
  order = [int(d) for d in sparsity.traversalOrder]
  block_map = [int(d) for d in sparsity.blockMap] if sparsity.blockMap is not (
      None) else []
  dims = sparsity.dimMetadata
  block_sizes = [int(dims[order.index(len(shape) + j)].denseSize)
                 for j in range(len(block_map))]
  dense = np.zeros(shape, values.dtype)
  position = iter(range(len(values)))
  indices = [0] * len(order)

  def populate(level, previous):
    if level == len(order):
      original = [0] * len(shape)
      for i in range(len(shape)):
        original[order[i]] = indices[i]
      for i in range(len(shape), len(order)):
        block = order[i] - len(shape)
        dim = block_map[block]
        original[dim] = original[dim] * block_sizes[block] + indices[i]
      dense[tuple(original)] = values[next(position)]
      return
    metadata = dims[level]
    if metadata.format == schema_lib.DimensionType.DENSE:
      for i in range(int(metadata.denseSize)):
        indices[level] = i
        populate(level + 1, previous * int(metadata.denseSize) + i)
    else:
      segments = metadata.arraySegments.values
      found = metadata.arrayIndices.values
      for i in range(int(segments[previous]), int(segments[previous + 1])):
        indices[level] = int(found[i])
        populate(level + 1, i)

  populate(0, 0)
  assert next(position, None) is None, "values left over"
  return dense


_Weight = collections.namedtuple(
    "_Weight", ["array", "scales", "zero_points", "storage", "index"])


def _weights(path, layer_names):
  """`{layer: _Weight}`: the FULLY_CONNECTED weights of a `.tflite` file.

  Each is read from the flatbuffer: `array` is the dense weight [out, in],
  `scales` and `zero_points` its quantization (None for float), `storage`
  `dense`, `sparse` or `densified`, `index` the tensor the op reads. A weight
  a DENSIFY op expands is read from the DENSIFY's sparse input.
  """
  with open(path, "rb") as stream:
    content = stream.read()
  model = schema_lib.ModelT.InitFromObj(
      schema_lib.Model.GetRootAsModel(content, 0))
  graph = model.subgraphs[0]
  names = {v: k for k, v in vars(schema_lib.BuiltinOperator).items()
           if not k.startswith("_")}
  codes = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode))
           for c in model.operatorCodes]
  densified = {int(op.outputs[0]): int(op.inputs[0]) for op in graph.operators
               if codes[op.opcodeIndex] == "DENSIFY"}
  found = {}
  for op in graph.operators:
    if codes[op.opcodeIndex] != "FULLY_CONNECTED":
      continue
    index = int(op.inputs[1])
    tensor = graph.tensors[densified.get(index, index)]
    layer = next(n for n in layer_names if f"/{n}/" in tensor.name.decode())
    quantization = tensor.quantization
    scales = zero_points = None
    if quantization is not None and quantization.scale is not None:
      scales = np.asarray(quantization.scale, np.float32)
      zero_points = np.asarray(quantization.zeroPoint, np.int64)
    storage = ("densified" if index in densified else
               "sparse" if tensor.sparsity is not None else "dense")
    found[layer] = _Weight(_decode(tensor, model.buffers[tensor.buffer]),
                           scales, zero_points, storage, index)
  return found


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

  def _kernels_and_masks(self):
    """The SavedModel's fc kernels and the stage's masks, both [in, out]."""
    loaded = tf.saved_model.load(self.ticket_dir)
    kernels = {v.name.split("/")[0]: v.numpy()
               for v in loaded.signatures[export.SIGNATURE].variables
               if len(v.shape) == 2}
    masks = weights_lib.load_arrays(self.search.layout.masks(self.key))
    self.assertLen(masks, 2)  # fc1 and fc2; logits is left dense
    return kernels, dict(zip(("fc1", "fc2"), masks))

  def test_pruned_weights_are_exact_zeros_in_the_float_flatbuffer(self):
    kernels, masks = self._kernels_and_masks()
    found = _weights(self.path, ("fc1", "fc2", "logits"))
    self.assertEqual({k: v.storage for k, v in found.items()},
                     {"fc1": "sparse", "fc2": "sparse", "logits": "dense"})
    for name in ("fc1", "fc2", "logits"):
      weight = found[name].array
      # TFLite stores [out, in]: the Keras kernel transposed, value for value.
      self.assertAllEqual(weight, kernels[name].T)
    for name, mask in masks.items():
      weight = found[name].array
      self.assertEqual(weight.dtype, np.float32)
      self.assertTrue(np.all(weight[mask.T == 0] == 0.0), name)
      self.assertEqual(np.count_nonzero(weight[mask.T == 1] == 0), 0, name)

  def test_pruned_weights_are_the_zero_point_in_the_int8_flatbuffer(self):
    kernels, masks = self._kernels_and_masks()
    int8_path = self.search.layout.tflite(self.key, "_int8")
    found = _weights(int8_path, ("fc1", "fc2", "logits"))
    for name in ("fc1", "fc2", "logits"):
      weight, scales, zero_points = found[name][:3]
      self.assertEqual(weight.dtype, np.int8)
      self.assertLen(scales, weight.shape[0])  # per output unit
      # Dequantized, each weight is the float kernel's within half a step.
      dequantized = (weight.astype(np.int64) - zero_points[:, None]) * (
          scales[:, None])
      self.assertTrue(np.all(np.abs(dequantized - kernels[name].T) <=
                             0.5001 * scales[:, None] + 1e-9), name)
    for name, mask in masks.items():
      weight, scales, zero_points = found[name][:3]
      rows = np.nonzero(mask.T == 0)[0]
      self.assertAllEqual(weight[mask.T == 0], zero_points[rows])
      dequantized = (weight.astype(np.int64) - zero_points[:, None]) * (
          scales[:, None])
      self.assertTrue(np.all(dequantized[mask.T == 0] == 0.0), name)
    # The interpreter's own densified weight (DENSIFY's output, kept with
    # every intermediate tensor) is the one read from the flatbuffer.
    densified = [n for n, v in found.items() if v.storage == "densified"]
    self.assertNotEmpty(densified)  # this ticket's int8 fc2 (not 1x16)
    runner = tf.lite.Interpreter(model_path=int8_path,
                                 experimental_preserve_all_tensors=True)
    runner.allocate_tensors()
    runner.set_tensor(runner.get_input_details()[0]["index"], self.raw[:1])
    runner.invoke()
    for name in densified:
      self.assertAllEqual(runner.get_tensor(found[name].index),
                          found[name].array)

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
        "--saved_model", "--format=json"))
    # LiteRT's C++ "Created TensorFlow Lite XNNPACK delegate" line is held.
    self.assertNotIn("XNNPACK", self.last_stderr)
    models = {m["name"]: m for m in report["models"]}
    self.assertEqual(list(models), ["dense/0", "lt/1"])
    dense, ticket = models["dense/0"], models["lt/1"]
    self.assertEqual(dense["latency"]["tflite_b1_t1"]["ratio_to_dense"], 1.0)
    self.assertGreater(ticket["latency"]["tflite_b1_t1"]["seconds"], 0.0)
    self.assertIn("saved_model_b1", ticket["latency"])
    # The SavedModel as TF Serving runs it: its signature in a TF Session.
    self.assertEqual(dense["latency"]["session_b1_t1"]["ratio_to_dense"], 1.0)
    self.assertGreater(ticket["latency"]["session_b1_t1"]["seconds"], 0.0)
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
