"""Tests of a channel ticket's compacted export: SavedModel, TFLite, ticket.json.

The ticket is made by hand: random channel groups of a finished stage's final
weights are zeroed (kernel slices, biases, BatchNorm gamma and beta), as the
`channel` structure leaves them, and the stage is exported again.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf import api
from kdticket_tf import config
from kdticket_tf.export import saved_model as export
from kdticket_tf.export import tflite
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from tests import testing

layers = keras.layers
SHAPE = (8, 8, 2)
KEY = layout_lib.StageKey("lt", 1)


def residual_model_fn():
  """Conv-BN twice joined by a residual Add, pooling, Flatten, Dense head."""
  inputs = keras.Input(SHAPE, name="image")
  x = layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
  x = layers.ReLU(name="relu1")(layers.BatchNormalization(name="bn1")(x))
  y = layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv2")(x)
  y = layers.Add(name="add")([x, layers.BatchNormalization(name="bn2")(y)])
  y = layers.MaxPooling2D(2, name="pool")(layers.ReLU(name="relu2")(y))
  y = layers.Dense(8, activation="relu", name="fc")(
      layers.Flatten(name="flatten")(y))
  return keras.Model(inputs, layers.Dense(4, name="logits")(y), name="resnet")


def serve(path, images):
  loaded = tf.saved_model.load(path)  # held while its signature runs
  signature = loaded.signatures[export.SIGNATURE]
  return signature(images=tf.constant(images))["logits"].numpy()


class CompactExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp(prefix="kdticket_compact_")
    lottery_config = config.LotteryConfig(
        recipes=("lt",),
        data=config.DataConfig(dataset="synthetic", synthetic_shape=SHAPE,
                               synthetic_classes=4, synthetic_examples=128,
                               batch_size=32),
        train=config.TrainConfig(duration=config.Duration(1, "ep"),
                                 learning_rate=0.05, verbose=0),
        pruning=config.PruningConfig(levels=1, fraction=0.5,
                                     rewind_step=config.Duration(1, "it")),
        export=config.ExportConfig(saved_model=True))
    cls.search = api.prepare(lottery_config, cls.workdir,
                             model_fn=residual_model_fn)
    cls.search.run()
    cls.layout = cls.search.layout
    cls.unstructured = export.read_ticket(cls.layout.serving_path(KEY))
    # The channel ticket: the stage's final weights with groups zeroed.
    base = residual_model_fn()
    weights_lib.load_model_weights(cls.layout.final_weights(KEY), base)
    _, cls.chosen = testing.channel_ticket(base, seed=1)
    testing.set_moving_statistics(base)
    weights_lib.save_model_weights(cls.layout.final_weights(KEY), base)
    # Exported as the channel structure's ticket: only its tickets compact.
    runner = cls.search.runner
    runner.config = dataclasses.replace(
        runner.config, pruning=dataclasses.replace(runner.config.pruning,
                                                   structure="channel"))
    cls.search.export_stage("lt", 1, force=True)
    cls.ticket = export.read_ticket(cls.layout.serving_path(KEY))
    cls.raw = cls.search.data.raw_test[0][:16].astype(np.float32)

  def width(self, producer):
    """`producer`'s width in the hand-made ticket."""
    width = residual_model_fn().get_layer(producer).units if producer in (
        "fc", "logits") else 6
    return width - sum(1 for g in self.chosen
                       if any(p == producer for p, _ in g.producers))

  def test_an_unstructured_ticket_is_not_compacted(self):
    self.assertNotIn("compacted", self.unstructured)
    dense = export.read_ticket(self.layout.serving_path(
        layout_lib.DENSE_KEY))
    self.assertEqual(self.unstructured["parameters"], dense["parameters"])
    # conv1 and conv2: 3*3*2*6 and 3*3*6*6 per position of 8 x 8; fc, logits.
    self.assertEqual(dense["macs"], (108 + 324) * 64 + 96 * 8 + 8 * 4)

  def test_the_compacted_ticket_is_its_own_serving_model(self):
    path = self.layout.compact_serving_path(KEY)
    self.assertEqual(path, os.path.join(self.workdir, "export", "serving",
                                        "lt_compact", "1"))
    for name in ("saved_model.pb", "ticket.json", export.WARMUP_FILE):
      self.assertTrue(os.path.exists(os.path.join(path, name)), name)
    compacted = self.ticket["compacted"]
    self.assertEqual(os.path.normpath(os.path.join(
        self.layout.serving_path(KEY), compacted["saved_model"])), path)
    own = export.read_ticket(path)
    self.assertEqual(own["parameters"], compacted["parameters"])
    self.assertEqual(own["dense_parameters"], self.ticket["parameters"])
    self.assertEqual(own["compacted_from"], os.path.join("..", "..", "lt",
                                                         "1"))

  def test_parameters_macs_and_widths_are_the_narrower_networks(self):
    compacted = self.ticket["compacted"]
    stream, fc = self.width("conv1"), self.width("fc")
    self.assertEqual(stream, self.width("conv2"))  # joined by the Add
    self.assertLess(stream, 6)
    self.assertEqual(compacted["widths"], {
        "conv1": [6, stream], "conv2": [6, stream], "fc": [8, fc],
        "logits": [4, 4]})
    parameters = (18 * stream + stream + 4 * stream  # conv1, bn1
                  + 9 * stream * stream + 4 * stream  # conv2, bn2
                  + 16 * stream * fc + fc + fc * 4 + 4)  # fc, logits
    self.assertEqual(compacted["parameters"], parameters)
    self.assertLess(compacted["parameters"], self.ticket["parameters"])
    macs = (18 * stream + 9 * stream * stream) * 64 + 16 * stream * fc + fc * 4
    self.assertEqual(compacted["macs"], macs)
    self.assertEqual(compacted["groups_removed"], len(self.chosen))
    self.assertEqual(compacted["check"]["test_examples"], 32)
    self.assertLess(compacted["check"]["max_relative_difference"], 1e-5)

  def test_saved_model_and_tflite_predict_as_the_masked_ticket(self):
    expected = serve(self.layout.serving_path(KEY), self.raw)
    path = self.layout.compact_serving_path(KEY)
    self.assertAllClose(serve(path, self.raw), expected, atol=1e-5, rtol=0)
    loaded = tf.saved_model.load(path)
    kernels = {v.name.split("/")[0]: v.shape
               for v in loaded.signatures[export.SIGNATURE].variables
               if len(v.shape) >= 2}
    self.assertEqual(kernels["conv2"][2:], (self.width("conv1"),
                                            self.width("conv2")))
    tflite_path = self.layout.compact_tflite(KEY)
    self.assertEqual(os.path.basename(tflite_path),
                     "lt_level_01_compact.tflite")
    self.assertAllClose(tflite.predict(tflite_path, self.raw), expected,
                        atol=1e-5, rtol=0)

  def inspect(self, *args):
    result = subprocess.run(
        [sys.executable, os.path.join(testing.ROOT, "tools",
                                      "inspect_ticket.py"), *args],
        capture_output=True, text=True, check=False, timeout=300,
        env=dict(os.environ, PYTHONPATH=testing.ROOT))
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    return result.stdout

  def test_inspect_ticket_shows_each_layers_width_before_and_after(self):
    path, compacted = self.layout.serving_path(KEY), self.ticket["compacted"]
    lines = self.inspect(path).splitlines()
    start = lines.index(f"{path}: the width of each layer, before and after "
                        "compaction")
    self.assertEqual([line.split() for line in lines[start + 2:start + 7]], [
        ["conv1", "6", str(self.width("conv1"))],
        ["conv2", "6", str(self.width("conv2"))],
        ["fc", "8", str(self.width("fc"))], ["logits", "4", "4"],
        ["parameters", str(self.ticket["parameters"]),
         str(compacted["parameters"]),
         f"({compacted['parameters_ratio']:.3f}x)"]])
    # The compacted network's own folder says the same.
    path = self.layout.compact_serving_path(KEY)
    report = json.loads(self.inspect(path, "--format=json"))[path]
    self.assertEqual(report["widths"]["macs"],
                     [self.ticket["macs"], compacted["macs"]])
    self.assertEqual(report["widths"]["layers"][0],
                     {"name": "conv1", "before": 6,
                      "after": self.width("conv1")})
    self.assertEqual(report["total"]["parameters"],
                     sum(v["weights"] for v in export.read_ticket(
                         path)["layers"].values()))

  def test_the_inference_benchmark_times_the_narrower_network(self):
    result = testing.run_tool(
        "benchmark_inference.py", f"--workdir={self.workdir}", "--rounds=1",
        "--batch_sizes=1", "--threads=1", "--seconds_per_timing=0.002",
        "--session_floor", "--caller_thread", "--format=json")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    found = json.loads(result.stdout)
    # One thread for the Session timings, set before anything ran (set any
    # later, TensorFlow refuses it and the tool fails above).
    self.assertEqual(found["meta"]["tensorflow_threads"],
                     {"intra_op": 1, "inter_op": 1})
    models = {m["name"]: m for m in found["models"]}
    self.assertEqual(list(models), ["dense/0", "lt/1", "lt_compact/1"])
    # The empty signature's call is in the meta, not among the models.
    # --caller_thread: each Session timing again, on the calling thread.
    sessions = ["session_b1_t1", "session_caller_b1_t1"]
    floor = found["meta"]["session_floor"]
    self.assertEqual(list(floor), sessions)
    for label in sessions:
      self.assertGreater(floor[label]["seconds"], 0.0)
      self.assertGreater(floor[label]["ratio_to_dense"], 0.0)
    # So each Session timing keeps about one CPU busy: 1.01 to 1.08 measured
    # on 2 cores, where TensorFlow's default pools (a second thread) gave 1.32
    # to 1.39, hence under 1.2 wherever a second core could run a second
    # thread. A load beside the test can hold a timing of a few ms below 0.5
    # (one run in two with two busy threads on 2 cores, where the test suite
    # runs two workers), so no lower bound but 0 holds on a loaded machine.
    busy = {}
    for name, model in models.items():
      busy.update({(name, label): value["cpu_per_wall"]
                   for label, value in model["latency"].items()
                   if label.startswith("session")})
    self.assertEqual([label for _, label in busy], sessions * 3)
    for (name, label), cpu_per_wall in busy.items():
      with self.subTest(model=name, timing=label):
        self.assertGreater(cpu_per_wall, 0.0)
        if os.cpu_count() > 1:
          self.assertLess(cpu_per_wall, 1.2)
    saved = os.path.join(self.get_temp_dir(), "benchmark.json")
    with open(saved, "w", encoding="utf-8") as stream:
      json.dump(found, stream)
    shown = testing.run_tool("benchmark_inference.py", f"--from_json={saved}")
    self.assertEqual(shown.returncode, 0, shown.stderr[-3000:])
    tables = shown.stdout
    self.assertIn("| TF Session b1 t1 | TF Session, caller's thread, b1 t1 |",
                  tables)
    self.assertRegex(tables, r"µs at batch 1 on the caller's thread \(")
    compact = models["lt_compact/1"]
    self.assertEqual(compact["saved_model"],
                     self.layout.compact_serving_path(KEY))
    self.assertEqual(compact["tflite"], self.layout.compact_tflite(KEY))
    self.assertEqual(compact["macs"], self.ticket["compacted"]["macs"])
    self.assertAlmostEqual(compact["macs_ratio"],
                           compact["macs"] / self.ticket["macs"])
    self.assertLess(compact["macs_ratio"], 1.0)
    self.assertEqual(models["lt/1"]["macs_ratio"], 1.0)  # dense kernels
    for label in sessions + ["tflite_b1_t1"]:
      self.assertGreater(compact["latency"][label]["seconds"], 0.0)
    for label in sessions:
      self.assertGreater(compact["latency"][label]["ratio_to_dense"], 0.0)
    # The dense model was exported without a TFLite file: no ratio to it.
    self.assertIsNone(compact["latency"]["tflite_b1_t1"]["ratio_to_dense"])


if __name__ == "__main__":
  tf.test.main()
