"""Tickets as stripped, truly sparse SavedModels in the layout TF Serving watches.

A ticket of recipe R at level L is written to

    <workdir>/export/serving/<R>/<L>/          (the dense model: dense/0/)
      saved_model.pb, variables/               the stripped model (no TF-MOT
                                               wrappers; pruned weights exactly 0)
      assets.extra/tf_serving_warmup_requests  PredictionLog records
      ticket.json                              recipe, level, sparsity per layer,
                                               non-zeros, accuracy, config, sizes,
                                               how TFLite stores each weight

so one TF Serving `models.config` with one model per recipe (base path
`.../serving/<R>`, `model_version_policy { all {} }`) serves every ticket of a run:
the version number is the level.

The `serving_default` signature takes raw inputs as the dataset has them (pixel
values 0-255 as float32, any batch size), applies the dataset's normalisation in
the graph, and returns `probabilities`, `classes` and `logits`; `serving_uint8`
takes uint8 pixels.
"""

import gzip
import io
import json
import os
import shutil
import tarfile

import numpy as np
import tensorflow as tf

from kdticket_tf.export import tflite
from kdticket_tf.store import artifacts
from kdticket_tf.store import layout as layout_lib

SIGNATURE = "serving_default"
UINT8_SIGNATURE = "serving_uint8"
INPUT_NAME = "images"
OUTPUT_NAMES = ("probabilities", "classes", "logits")
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


class ServingModule(tf.Module):
  """Raw inputs -> normalisation -> model -> probabilities, classes, logits."""

  def __init__(self, model, input_shape, normalization=None):
    super().__init__()
    self.model = model
    self._normalization = normalization
    if normalization:
      self._mean = tf.constant(normalization["mean"], tf.float32)
      self._std = tf.constant(normalization["std"], tf.float32)
      self._scale = float(normalization["scale"])
    shape = [None] + list(input_shape)
    self.serve = tf.function(
        self._serve,
        input_signature=[tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)])
    self.serve_uint8 = tf.function(
        lambda images: self._serve(tf.cast(images, tf.float32)),
        input_signature=[tf.TensorSpec(shape, tf.uint8, name=INPUT_NAME)])

  def _serve(self, images):
    inputs = images
    if self._normalization:
      inputs = (images / self._scale - self._mean) / self._std
    logits = tf.cast(self.model(inputs, training=False), tf.float32)
    return {"probabilities": tf.nn.softmax(logits),
            "classes": tf.argmax(logits, axis=-1),
            "logits": logits}


def write_warmup(path, model_name, input_shape, batch_sizes=(1, 8)):
  """Writes TF Serving warm-up PredictionLog records for `serving_default`."""
  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import model_pb2
  from tensorflow_serving.apis import predict_pb2
  from tensorflow_serving.apis import prediction_log_pb2
  rng = np.random.default_rng(0)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for batch in batch_sizes:
      images = rng.integers(0, 256, size=(batch,) + tuple(input_shape)).astype(
          np.float32)
      request = predict_pb2.PredictRequest(
          model_spec=model_pb2.ModelSpec(name=model_name,
                                         signature_name=SIGNATURE))
      request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(images))
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())


def gzip_size(folder):
  """Returns the size in bytes of `folder` as a gzip-compressed tar archive."""
  buffer = io.BytesIO()
  with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9,
                     mtime=0) as compressed:
    with tarfile.open(fileobj=compressed, mode="w") as archive:
      archive.add(folder, arcname=".")
  return len(buffer.getvalue())


def _tflite_metadata(staging, path, layer_names, representative_data=None,
                     prefix="tflite"):
  """Converts the staged ticket; returns its `<prefix>_bytes` and storage."""
  content = tflite.convert(staging, path, SIGNATURE, representative_data)
  return {f"{prefix}_bytes": len(content),
          f"{prefix}_layers": tflite.storage_report(content, layer_names)}


def layer_report(model, prunable_names=None):
  """Per-layer shape, weights, non-zeros and sparsity of the kernels of `model`.

  Args:
    model: A Keras model (stripped).
    prunable_names: Layer names to report; by default every layer with a
      `kernel` of rank 2 or more.

  Returns:
    `{layer name: {"shape", "weights", "nonzero", "sparsity"}}` in model order.
  """
  report = {}
  for layer in model.layers:
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(kernel.shape) < 2:
      continue
    if prunable_names is not None and layer.name not in prunable_names:
      continue
    values = kernel.numpy()
    nonzero = int(np.count_nonzero(values))
    report[layer.name] = {"shape": list(values.shape), "weights": values.size,
                          "nonzero": nonzero,
                          "sparsity": 1.0 - nonzero / max(values.size, 1)}
  return report


def export_ticket(model, path, input_shape, metadata, normalization=None,
                  model_name=None, tflite_path=None, dense_gzip_bytes=None,
                  tflite_int8_path=None, representative_data=None,
                  extra_files=()):
  """Writes `model` (stripped, masks applied) as a servable ticket at `path`.

  Args:
    model: The base (unwrapped) Keras model holding the ticket's weights.
    path: `<base>/<model name>/<version>`; replaced if it exists.
    input_shape: Shape of one raw input.
    metadata: JSON-ready dict written as `ticket.json` (sizes are added).
    normalization: The dataset's normalisation, applied in the serving graph.
    model_name: Model name in the warm-up requests (default: the folder name).
    tflite_path: Where to write a TFLite conversion too (None: no TFLite).
    dense_gzip_bytes: The dense model's `gzip_bytes`; when given, the ticket
      records `gzip_ratio_to_dense`.
    tflite_int8_path: Where to write an int8 post-training quantized TFLite
      conversion (None: none); needs `representative_data`.
    representative_data: Callable yielding `[raw input batch]` lists, the
      int8 conversion's calibration data.
    extra_files: Callables `write(folder)` that add files to the ticket's
      folder once its size is measured (`gzip_bytes` is the SavedModel's
      alone), each returning what `ticket.json` records of them.

  Returns:
    The metadata as written.
  """
  model_name = model_name or os.path.basename(os.path.dirname(path))
  staging = path + ".partial"
  shutil.rmtree(staging, ignore_errors=True)
  module = ServingModule(model, input_shape, normalization)
  tf.saved_model.save(module, staging, signatures={
      SIGNATURE: module.serve, UINT8_SIGNATURE: module.serve_uint8})
  write_warmup(os.path.join(staging, WARMUP_FILE), model_name, input_shape)
  metadata = dict(metadata, gzip_bytes=gzip_size(staging))
  if dense_gzip_bytes:
    metadata["gzip_ratio_to_dense"] = metadata["gzip_bytes"] / dense_gzip_bytes
  layer_names = [layer.name for layer in model.layers]
  metadata = dict(metadata, tensorflow_version=tf.__version__,
                  tflite_bytes=None,
                  signature={"name": SIGNATURE, "input": INPUT_NAME,
                             "outputs": list(OUTPUT_NAMES)})
  if tflite_path:
    metadata.update(_tflite_metadata(staging, tflite_path, layer_names))
  if tflite_int8_path:
    metadata.update(_tflite_metadata(staging, tflite_int8_path, layer_names,
                                     representative_data, "tflite_int8"))
  for write in extra_files:
    metadata.update(write(staging))
  ticket = os.path.join(staging, layout_lib.TICKET)
  with open(ticket, "w", encoding="utf-8") as f:
    json.dump(metadata, f, indent=2)
  if os.path.exists(path):
    shutil.rmtree(path)
  os.replace(staging, path)  # TF Serving never sees a half-written version
  return metadata


def read_ticket(path):
  """Returns the `ticket.json` of an exported ticket."""
  return artifacts.read_json(os.path.join(path, layout_lib.TICKET))
