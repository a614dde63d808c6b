"""A ticket's serving signature run in-process as TF Serving runs it, and profiled.

TF Serving loads a SavedModel's graph into a TF `Session` and runs the
`serving_default` signature's tensors. `SignatureSession` does the same, so a
ticket can be timed (`tools/benchmark_inference.py`) and its time traced layer
by layer (`layer_times`, `tools/session_profile.py`) as it would run there.
The TF2 Python call of a loaded signature is no stand-in: it adds 0.3 to 2 ms
per call.
"""

import collections
import math
import os
import re

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

from kdticket_tf.export import saved_model as export

SIGNATURE_OPS = "(signature)"  # the serving graph's own ops
RUNTIME = "(runtime)"  # function inputs, variable handles, the rest
_MODEL_NODE = re.compile(r"^(?:StatefulPartitionedCall/)+([^/]+)/(.+)$")
# Grappler's constant folding names a node it makes after the node it stands
# for, behind a prefix: `ConstantFolding/StatefulPartitionedCall/.../
# truediv_recip` (its control nodes: `ConstantFoldingCtrl/...`). Other
# optimizers put their name after the node's scope, which `_MODEL_NODE` reads.
_GRAPPLER_PREFIX = re.compile(r"^ConstantFolding(?:Ctrl)?/")
# What a refusal advises: how a ticket gets its serving signature.
_EXPORT = ("export the ticket with tools/export_ticket.py or the "
           "export.saved_model field")


class SignatureSession:
  """A ticket's `serving_default` signature in a TF `Session`, as TF Serving runs it.

  The graph is loaded with `tf.compat.v1.saved_model.loader.load` and called
  through the C++ Session's callable (`Session::MakeCallable`), made once: a
  call checks the batch's shape and hands it to the Session, with no Python
  parsing of feeds and fetches. TF Serving calls the C++ Session directly. `session.run`,
  and `Session.make_callable` with a feed list (which calls it), parse the
  feeds and fetches in Python on every call, tens of µs that no runtime
  serving a ticket pays.

  The CPU thread pools are the process's: the first session or eager context
  of a process sizes them, and a later session's `ConfigProto` does not change
  them. The session asks for the threads `tf.config.threading` sets, so to run
  on one thread, call `use_one_thread()` before TensorFlow runs anything.

  A call hands the graph to the inter-op pool and waits for it, as TF Serving
  does by default: two thread wake-ups per call. With `caller_thread` the
  graph runs on the calling thread instead (`inter_op_parallelism_threads`
  negative), as TF Serving does when its server options set
  `tensorflow_intra_op_parallelism` to 1 and `tensorflow_inter_op_parallelism`
  to -1.
  """

  def __init__(self, folder, output="logits", caller_thread=False):
    """Loads the ticket in `folder` and readies its signature's `output`.

    Args:
      folder: An exported ticket (`export/serving/<recipe>/<level>`).
      output: The signature's output a call returns.
      caller_thread: Run the graph on the calling thread, not the pool's.

    Raises:
      ValueError: `folder` holds no readable SavedModel, or one without a
        graph tagged `serve`, its `serving_default` signature, that
        signature's `images` input or `output`.
    """
    if not any(os.path.exists(os.path.join(folder, name))
               for name in ("saved_model.pb", "saved_model.pbtxt")):
      raise ValueError(f"{folder} holds no saved_model.pb; give an exported "
                       "ticket's folder (export/serving/<recipe>/<level>).")
    self.folder = folder
    self.caller_thread = caller_thread
    self._run = self._traced = None
    self.graph = tf.Graph()
    count = threads()
    self.session = tf.compat.v1.Session(
        graph=self.graph, config=tf.compat.v1.ConfigProto(
            device_count={"GPU": 0},  # the CPU kernels, on any machine
            intra_op_parallelism_threads=count["intra_op"],
            # Negative: every op on the caller's thread (ConfigProto's doc).
            inter_op_parallelism_threads=(-1 if caller_thread
                                          else count["inter_op"])))
    try:
      self._load(folder, output)
    except Exception:  # a session that cannot serve is not left open
      self.session.close()
      raise

  def _load(self, folder, output):
    with self.graph.as_default():
      try:
        meta = tf.compat.v1.saved_model.loader.load(
            self.session, [tf.saved_model.SERVING], folder)
      except RuntimeError as error:  # no MetaGraph with the serving tag
        raise ValueError(
            f"{folder} holds no graph tagged '{tf.saved_model.SERVING}'; "
            f"{_EXPORT}.") from error
      except OSError as error:  # not a SavedModel's protocol buffer
        raise ValueError(
            f"{folder}'s saved_model.pb cannot be read as a SavedModel; "
            f"{_EXPORT} again.") from error
    problem = _signature_problem(meta.signature_def, folder, output)
    if problem:
      raise ValueError(problem)
    signature = meta.signature_def[export.SIGNATURE]
    self.input = self.graph.get_tensor_by_name(
        signature.inputs[export.INPUT_NAME].name)
    self.output = self.graph.get_tensor_by_name(signature.outputs[output].name)
    self.input_shape = self.input.shape.as_list()[1:]
    self.output_shape = self.output.shape.as_list()[1:]
    self._run = self._callable()
    self._traced = None  # made on first use: a second executor

  def _callable(self, run_options=None):
    """A C++ Session callable from the signature's input to its output."""
    options = config_pb2.CallableOptions(feed=[self.input.name],
                                         fetch=[self.output.name])
    if run_options is not None:
      options.run_options.CopyFrom(run_options)
    # The one Python entry to `Session::MakeCallable` (tf_keras's graph-mode
    # backend calls it too); `make_callable` with feeds falls back to `run`.
    # pylint: disable-next=protected-access
    return self.session._make_callable_from_options(options)

  def _batch(self, images):
    """`images` as the float32, C-ordered batch the callable is handed."""
    if self._run is None:
      raise RuntimeError(f"The session of {self.folder} is closed; open a "
                         "new SignatureSession to call it.")
    batch = np.ascontiguousarray(images, np.float32)
    expected = self.input.shape.as_list()
    if batch.ndim != len(expected) or any(
        size is not None and size != got
        for size, got in zip(expected[1:], batch.shape[1:])):
      raise ValueError(
          f"images of shape {list(batch.shape)} do not fit the signature's "
          f"input; give a batch of shape {expected} (None: any size).")
    return batch

  def __enter__(self):
    return self

  def __exit__(self, *unused_exception):
    self.close()

  def __call__(self, images):
    """The signature's output for `images` (a float32 array, batch first).

    Raises:
      ValueError: `images` do not have the signature's input shape.
      RuntimeError: The session is closed.
    """
    return self._run(self._batch(images))[0]

  def op_times(self, images, runs=20, warm_up=True):
    """Mean time (s) per call of each node of the graph, from traced runs.

    A node's time is its kernel's, from start to end (not the wait before it
    was scheduled). Grappler rewrites the graph first (function inlining,
    fused kernels), so the nodes are the ones that run: a fused Conv2D +
    BatchNormalization + ReLU is one node, named after the last op it
    absorbed. `warm_up`: one untimed traced call first (the first call of a
    traced callable is the rewrite's).

    Raises:
      ValueError: `images` do not have the signature's input shape.
      RuntimeError: The session is closed.
    """
    batch = self._batch(images)
    if self._traced is None:
      self._traced = self._callable(tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE))
    if warm_up:
      self._traced(batch)  # rewritten and warm
    totals = collections.Counter()
    for _ in range(runs):
      metadata = tf.compat.v1.RunMetadata()
      self._traced(batch, run_metadata=metadata)
      for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
          totals[node.node_name] += (
              node.op_end_rel_nanos - node.op_start_rel_nanos) * 1e-9 / runs
    return dict(totals)

  def layer_times(self, images, runs=20, group="", warm_up=True):
    """Mean time (s) per call of each Keras layer, from `op_times`.

    Args:
      images: The input batch.
      runs: Traced calls to average.
      group: A regular expression folding layers into groups: a layer goes
        to the first match in its name (`^stage\\d`: ResNet stages), or stays
        itself.
      warm_up: As for `op_times`.

    Returns:
      `{layer or group: seconds}`; the serving graph's own ops (normalisation,
      softmax, argmax) under `SIGNATURE_OPS`, the rest under `RUNTIME`.

    Raises:
      ValueError, RuntimeError: As `op_times`.
    """
    pattern = re.compile(group) if group else None
    totals = collections.defaultdict(float)
    for node, seconds in self.op_times(images, runs, warm_up).items():
      layer = layer_of(node)
      found = (pattern.search(layer)
               if pattern and layer not in (SIGNATURE_OPS, RUNTIME) else None)
      totals[found.group(0) if found else layer] += seconds
    return dict(totals)

  def close(self):
    """Releases the callables, then the Session; a later call is refused."""
    self._run = self._traced = None  # their handles are released first
    self.session.close()


def write_empty_signature(folder, input_shape, classes):
  """Writes a SavedModel whose `serving_default` does nothing but reshape.

  Its signature takes `images` as a ticket's does (`[batch] + input_shape`)
  and returns as many `logits` per example: the first `classes` values of the
  flattened input. Timed in a `SignatureSession`, it is the Session call's
  own cost (feeding the batch, running a graph, fetching the result), which
  every ticket's call pays beside its layers.
  """
  module = tf.Module()
  module.serve = tf.function(
      lambda images: {"logits": tf.reshape(
          images, [-1, math.prod(input_shape)])[:, :classes]},
      input_signature=[tf.TensorSpec([None] + list(input_shape), tf.float32,
                                     name=export.INPUT_NAME)])
  tf.saved_model.save(module, folder,
                      signatures={export.SIGNATURE: module.serve})


def _signature_problem(signatures, folder, output):
  """One sentence on what `folder`'s signatures lack, or None."""
  signature = signatures.get(export.SIGNATURE)
  if signature is None:
    names = sorted(name for name in signatures if not name.startswith("__"))
    return (f"{folder} has no '{export.SIGNATURE}' signature (it has "
            f"{names or 'none'}); {_EXPORT}.")
  if export.INPUT_NAME not in signature.inputs:
    return (f"{folder}'s '{export.SIGNATURE}' signature has no "
            f"'{export.INPUT_NAME}' input (it has {sorted(signature.inputs)}); "
            f"{_EXPORT}.")
  if output not in signature.outputs:
    return (f"{folder}'s '{export.SIGNATURE}' signature has no '{output}' "
            f"output; give one of {sorted(signature.outputs)}.")
  return None


def use_one_thread():
  """Sizes TensorFlow's process-wide intra- and inter-op pools to one thread.

  Call it before TensorFlow runs anything (a later call raises RuntimeError):
  the first session or eager context of a process sizes the pools that every
  `SignatureSession` then runs on.
  """
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)


# The environment variables that choose TensorFlow's oneDNN CPU kernels: on
# or off (TF_ENABLE_ONEDNN_OPTS) and the widest instruction set they may use
# (ONEDNN_MAX_CPU_ISA, such as AVX2). Read when TensorFlow starts.
ONEDNN_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA")


def onednn_settings():
  """`{variable: value}` of the `ONEDNN_VARIABLES` set; `{}`: the defaults."""
  return {name: os.environ[name] for name in ONEDNN_VARIABLES
          if name in os.environ}


def threads():
  """`{"intra_op", "inter_op"}`: the threads TensorFlow is set to (0: all)."""
  return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
          "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def layer_of(node):
  """The Keras layer a node of a serving graph belongs to.

  Nodes of the model sit under `StatefulPartitionedCall/.../<model>/<layer>/`;
  a Grappler-fused kernel (Conv2D + BatchNormalization + ReLU) carries the
  name of the last layer it absorbed, and a node constant folding made the
  name of the node it stands for behind a prefix (`ConstantFolding/...`). A
  model nested in the ticket's model is one layer, under its own name. The
  signature's own ops sit directly under the call (`SIGNATURE_OPS`); anything
  else is `RUNTIME`.
  """
  found = _MODEL_NODE.match(_GRAPPLER_PREFIX.sub("", node))
  if not found:
    return RUNTIME
  rest = found.group(2)
  return rest.split("/")[0] if "/" in rest else SIGNATURE_OPS
