r"""Sends test images to a running TF Serving and prints accuracy and latency.

    # REST (TF Serving's --rest_api_port, 8501 by default)
    python tools/serving_client.py --rest=localhost:8501 --model_name=rewind \
        --version=7 --dataset=fashion_mnist --num_examples=1000
    # gRPC (TF Serving's --port, 8500 by default)
    python tools/serving_client.py --grpc=localhost:8500 --model_name=rewind \
        --version=7 --dataset=fashion_mnist

Requests use the ticket's `serving_default` signature: input `images` (raw pixel
values as float32, any batch size), outputs `probabilities`, `classes`, `logits`.
"""

import statistics
import sys
import time
import urllib.request

from absl import app
from absl import flags

import kdticket_tf
import numpy as np

FLAGS = flags.FLAGS
flags.DEFINE_string("rest", None, "host:port of TF Serving's REST API.")
flags.DEFINE_string("grpc", None, "host:port of TF Serving's gRPC API.")
flags.DEFINE_string("model_name", None, "Served model name (the recipe).")
flags.DEFINE_integer("version", None, "Model version (the level); latest if unset.")
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset of the test images.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir / folder of IDX files.")
flags.DEFINE_integer("num_examples", 1000, "Test examples to send.")
flags.DEFINE_integer("batch_size", 100, "Examples per request.")
flags.DEFINE_float("timeout", 30.0, "Seconds per request.")

serving = kdticket_tf.serving


def _send_rest(address, images):
  request = urllib.request.Request(
      serving.rest_url(address, FLAGS.model_name, FLAGS.version),
      data=serving.build_rest_request(images).encode(),
      headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=FLAGS.timeout) as response:
    return serving.parse_rest_response(response.read())


def _grpc_sender(address):
  # pylint: disable=g-import-not-at-top
  import grpc
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  stub = prediction_service_pb2_grpc.PredictionServiceStub(
      grpc.insecure_channel(address))

  def send(images):
    request = serving.build_grpc_request(images, FLAGS.model_name,
                                         FLAGS.version)
    return serving.parse_grpc_response(
        stub.Predict(request, timeout=FLAGS.timeout))
  return send


def main(argv):
  kdticket_tf.start_tensorflow()
  del argv
  if bool(FLAGS.rest) == bool(FLAGS.grpc) or not FLAGS.model_name:
    print("serving_client: error: give --model_name and exactly one of --rest "
          "and --grpc.", file=sys.stderr)
    return 1
  try:
    data = kdticket_tf.load_data(kdticket_tf.DataConfig(
        dataset=FLAGS.dataset, data_dir=FLAGS.data_dir))
  except ValueError as error:
    print(f"serving_client: error: {error}", file=sys.stderr)
    return 1
  if data.raw_test is None:
    print(f"serving_client: error: {FLAGS.dataset} has no raw test arrays.",
          file=sys.stderr)
    return 1
  images, labels = (a[:FLAGS.num_examples] for a in data.raw_test)
  send = (lambda batch: _send_rest(FLAGS.rest, batch)) if FLAGS.rest else (
      _grpc_sender(FLAGS.grpc))
  latencies, correct = [], 0
  for start in range(0, len(images), FLAGS.batch_size):
    batch = images[start:start + FLAGS.batch_size]
    started = time.perf_counter()
    try:
      outputs = send(batch)
    except Exception as error:  # pylint: disable=broad-except
      print(f"serving_client: error: the request failed ({error}); is TF "
            "Serving running there with that model?", file=sys.stderr)
      return 1
    latencies.append(time.perf_counter() - started)
    correct += int(np.sum(outputs["classes"] ==
                          labels[start:start + FLAGS.batch_size]))
  print(f"accuracy {correct / len(images):.4f} on {len(images)} examples; "
        f"latency per request of {FLAGS.batch_size}: median "
        f"{1000 * statistics.median(latencies):.1f} ms, max "
        f"{1000 * max(latencies):.1f} ms")
  return 0


if __name__ == "__main__":
  app.run(main)
