"""Tests of ticket export: a fresh TensorFlow process, saved_model_cli, warm-up, client."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf

from kdticket_tf.export import saved_model as export
from kdticket_tf.store import layout
from kdticket_tf import api
from kdticket_tf.export import serving
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.pruning import wrapper
from tests import testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


class ExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp(prefix="kdticket_export_")
    cls.search = api.prepare(testing.synthetic_config(export=True),
                                 cls.workdir)
    cls.search.run()
    cls.ticket_dir = cls.search.layout.serving_path(layout.StageKey("lt", 2))
    # The model in training: wrapped, masks set, the level's final weights.
    base = cls.search.model_fn()
    wrapped = wrapper.wrap_model(base)
    folder = cls.search.layout.stage_dir(layout.StageKey("lt", 2))
    weights_lib.load_model_weights(os.path.join(folder, "final.weights.npz"),
                                   base)
    wrapper.set_masks(wrapped, weights_lib.load_arrays(
        os.path.join(folder, "masks.npz")))
    cls.raw = cls.search.data.raw_test[0][:16].astype(np.float32)
    cls.expected_logits = wrapped(cls.search.data.preprocess(cls.raw)).numpy()
    cls.masks = weights_lib.load_arrays(os.path.join(folder, "masks.npz"))

  def test_serving_layout_for_every_level(self):
    serving_dir = os.path.join(self.workdir, "export", "serving")
    self.assertEqual(sorted(os.listdir(serving_dir)), ["dense", "lt"])
    self.assertEqual(sorted(os.listdir(os.path.join(serving_dir, "lt"))),
                     ["1", "2"])
    for name in ("saved_model.pb", "ticket.json", export.WARMUP_FILE):
      self.assertTrue(os.path.exists(os.path.join(self.ticket_dir, name)), name)
    ticket = export.read_ticket(self.ticket_dir)
    self.assertEqual((ticket["recipe"], ticket["level"]), ("lt", 2))
    self.assertNear(ticket["sparsity"], 0.75, 0.005)
    self.assertLess(ticket["gzip_ratio_to_dense"], 0.6)
    self.assertEqual(ticket["tensorflow_version"], tf.__version__)
    self.assertEqual(ticket["config"]["recipes"], ["lt"])

  def test_fresh_tensorflow_process_sees_the_sparsity_and_predictions(self):
    raw_path = os.path.join(self.workdir, "raw.npy")
    expected_path = os.path.join(self.workdir, "expected.npy")
    np.save(raw_path, self.raw)
    np.save(expected_path, self.expected_logits)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        assert "kdticket_tf" not in sys.modules
        assert "tensorflow_model_optimization" not in sys.modules
        path = {self.ticket_dir!r}
        ticket = json.load(open(path + "/ticket.json"))
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        kernels = {{v.name.split("/")[0]: v.numpy() for v in serve.variables
                    if len(v.shape) >= 2}}
        assert set(kernels) == set(ticket["layers"]), (kernels, ticket["layers"])
        for name, values in kernels.items():
          zero_fraction = float(np.mean(values == 0.0))
          assert abs(zero_fraction - ticket["layers"][name]["sparsity"]) < 1e-9
        outputs = serve(images=tf.constant(np.load({raw_path!r})))
        np.testing.assert_allclose(outputs["logits"].numpy(),
                                   np.load({expected_path!r}), rtol=1e-5,
                                   atol=1e-5)
        assert outputs["classes"].dtype == tf.int64
        print("FRESH OK", sorted(kernels))
        """)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd="/",
                            capture_output=True, text=True, timeout=300,
                            check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("FRESH OK", result.stdout)

  def test_exported_pruned_weights_are_exactly_zero(self):
    loaded = tf.saved_model.load(self.ticket_dir)
    kernels = [v.numpy() for v in loaded.signatures[export.SIGNATURE].variables
               if len(v.shape) >= 2]
    self.assertLen(kernels, len(self.masks))
    for kernel, mask in zip(kernels, self.masks):
      self.assertTrue(np.all(kernel[mask == 0] == 0.0))

  def test_saved_model_cli_show_and_run(self):
    cli = os.path.join(BIN, "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", self.ticket_dir, "--all"],
                          capture_output=True, text=True, timeout=300,
                          check=False)
    self.assertEqual(show.returncode, 0, show.stderr[-2000:])
    for text in ("serving_default", "inputs['images']", "outputs['probabilities']",
                 "outputs['classes']", "outputs['logits']", "serving_uint8"):
      self.assertIn(text, show.stdout)
    inputs = os.path.join(self.workdir, "cli_inputs.npy")
    np.save(inputs, self.raw[:3])
    run = subprocess.run(
        [cli, "run", "--dir", self.ticket_dir, "--tag_set", "serve",
         "--signature_def", "serving_default", "--inputs",
         f"images={inputs}"],
        capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(run.returncode, 0, run.stderr[-2000:])
    self.assertIn("probabilities", run.stdout)

  def test_warmup_records_match_the_signature(self):
    from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
    path = os.path.join(self.ticket_dir, export.WARMUP_FILE)
    signature = tf.saved_model.load(self.ticket_dir).signatures[
        export.SIGNATURE]
    spec = signature.structured_input_signature[1][export.INPUT_NAME]
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    self.assertNotEmpty(records)
    for record in records:
      log = prediction_log_pb2.PredictionLog.FromString(record)
      request = log.predict_log.request
      self.assertEqual(request.model_spec.signature_name, export.SIGNATURE)
      self.assertEqual(request.model_spec.name, "lt")
      self.assertEqual(set(request.inputs), {export.INPUT_NAME})
      tensor = tf.make_ndarray(request.inputs[export.INPUT_NAME])
      self.assertEqual(tf.as_dtype(tensor.dtype), spec.dtype)
      self.assertTrue(spec.shape.is_compatible_with(tensor.shape))
      self.assertIn("probabilities", signature(images=tf.constant(tensor)))

  def test_client_requests_and_responses_round_trip_through_the_signature(self):
    signature = tf.saved_model.load(self.ticket_dir).signatures[
        export.SIGNATURE]
    # REST: the JSON body a client sends, the columnar JSON TF Serving answers.
    body = json.loads(serving.build_rest_request(self.raw))
    self.assertEqual(body["signature_name"], "serving_default")
    outputs = signature(images=tf.constant(body["inputs"]["images"],
                                           tf.float32))
    response = json.dumps({"outputs": {k: v.numpy().tolist()
                                       for k, v in outputs.items()}})
    parsed = serving.parse_rest_response(response)
    self.assertAllClose(parsed["logits"], self.expected_logits, rtol=1e-5,
                        atol=1e-5)
    self.assertAllEqual(parsed["classes"], self.expected_logits.argmax(-1))
    # gRPC: PredictRequest in, PredictResponse out.
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    request = serving.build_grpc_request(self.raw, "lt", version=2)
    self.assertEqual(request.model_spec.version.value, 2)
    outputs = signature(**{name: tf.constant(tf.make_ndarray(proto))
                           for name, proto in request.inputs.items()})
    reply = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      reply.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    parsed = serving.parse_grpc_response(reply)
    self.assertAllEqual(parsed["classes"], self.expected_logits.argmax(-1))
    self.assertEqual(serving.rest_url("localhost:8501", "lt", 2),
                     "http://localhost:8501/v1/models/lt/versions/2:predict")

  def test_uint8_signature_agrees(self):
    signatures = tf.saved_model.load(self.ticket_dir).signatures
    as_float = signatures[export.SIGNATURE](images=tf.constant(self.raw))
    as_uint8 = signatures[export.UINT8_SIGNATURE](
        images=tf.constant(self.raw.astype(np.uint8)))
    self.assertAllClose(as_float["logits"], as_uint8["logits"])

  def test_tools_export_all_with_tflite_and_inspect(self):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    base = os.path.join(self.workdir, "elsewhere")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "export_ticket.py"),
         f"--workdir={self.workdir}", "--all", "--tflite",
         f"--base_dir={base}"], env=env, capture_output=True, text=True,
        timeout=600, check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    ticket = export.read_ticket(os.path.join(base, "lt", "2"))
    self.assertGreater(ticket["tflite_bytes"], 0)
    self.assertTrue(os.path.exists(os.path.join(
        self.workdir, "export", "tflite", "lt_level_02.tflite")))
    inspect = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "inspect_ticket.py"),
         os.path.join(base, "lt", "2"), "--format=json"], env=env,
        capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(inspect.returncode, 0, inspect.stderr[-3000:])
    report = json.loads(inspect.stdout)
    total = next(iter(report.values()))["total"]
    self.assertEqual(total["nonzero"], ticket["nonzero_weights"])
    self.assertNear(total["sparsity"], ticket["sparsity"], 1e-9)


if __name__ == "__main__":
  tf.test.main()
