"""Client side of TF Serving for exported tickets: request building, parsing.

The project ships no server: tickets are served by TF Serving itself (see the
README). These helpers build and parse REST and gRPC `Predict` messages for a
ticket's `serving_default` signature, and are what `tools/serving_client.py` uses.
"""

import json

import numpy as np
import tensorflow as tf

from kdticket_tf.export import saved_model as export


def rest_url(address, model_name, version=None):
  """Returns the REST `:predict` URL of a served model (version optional)."""
  path = f"/v1/models/{model_name}"
  if version is not None:
    path += f"/versions/{int(version)}"
  return f"http://{address}{path}:predict"


def build_rest_request(images):
  """Returns the JSON body (columnar `inputs`) of a REST predict request."""
  return json.dumps({
      "signature_name": export.SIGNATURE,
      "inputs": {export.INPUT_NAME: np.asarray(images, np.float32).tolist()}})


def parse_rest_response(body):
  """Returns {output name: array} from a REST predict response body."""
  outputs = json.loads(body)["outputs"]
  return {name: np.asarray(value) for name, value in outputs.items()}


def build_grpc_request(images, model_name, version=None):
  """Returns a `PredictRequest` for the `serving_default` signature."""
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = export.SIGNATURE
  if version is not None:
    request.model_spec.version.value = int(version)
  request.inputs[export.INPUT_NAME].CopyFrom(
      tf.make_tensor_proto(np.asarray(images, np.float32)))
  return request


def parse_grpc_response(response):
  """Returns {output name: array} from a `PredictResponse`."""
  return {name: tf.make_ndarray(proto)
          for name, proto in response.outputs.items()}
