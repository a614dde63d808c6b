"""Checks of a search before any stage runs: its settings, the model, the data.

A search that cannot run, or that would run and mean nothing (a model whose
output is probabilities trained as if they were logits), is refused here, with
one sentence that names what was found and what is accepted, before anything
trains. `check_search` is the one entry the coordinator (`lottery.py`) calls; it
runs, in order:

* `check_settings`: settings that cannot run together (cached teacher logits
  of a stream without per-example arrays, a teacher path that does not exist,
  a global batch the replicas cannot share, an executor that cannot rebuild
  the user's model and data);
* `check_model`: what `model_fn` returns (a fresh Sequential or functional
  tf_keras model per call, one input, one output of logits [batch, classes]
  with no final softmax or sigmoid);
* `check_pruning`: that something is left to prune and that every layer
  pattern matches a layer;
* `check_dataset` of each user dataset against the model: batched, `(inputs,
  labels[, sample_weight])`, inputs of the model's input shape, integer class
  labels [batch] in range of the model's classes (the first batch's values).

`check_user_datasets` runs earlier, in `find_tickets`, on what can be checked
without the model (datasets, finite where they are evaluated whole).
"""

import importlib.util
import inspect
import re

import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf.training import distill
from kdticket_tf.training import recipes as recipes_lib
from kdticket_tf.search import level_masks
from kdticket_tf.pruning import wrapper

_PROBABILITIES = ("softmax", "sigmoid")


def check_search(config, data, runner, strategy):
  """Refuses, before any training, a search that cannot run.

  Args:
    config: The `LotteryConfig`.
    data: The `LotteryData`.
    runner: The search's `StageRunner` (it builds and wraps the model).
    strategy: The `tf.distribute.Strategy` the stages train under.

  Raises:
    ValueError: with one sentence naming what was found and what is accepted.
  """
  check_settings(config, data, strategy)
  model = check_model(runner, fresh=config.model.name == "user")
  check_pruning(config, runner, model)
  if config.data.dataset == "user":
    check_dataset(data.train.ordered(), "train_data", model)
    check_dataset(data.test, "test_data", model)
    if data.validation is not None:
      check_dataset(data.validation, "validation_data", model)


def check_settings(config, data, strategy):
  """Refuses settings that cannot run together (see `check_search`)."""
  named = [recipes_lib.get(r) for r in config.recipes]
  if any(r.distill for r in named):
    if config.distill.cache_teacher_logits:
      data.train.check_extra_allowed()
    if config.distill.teacher not in ("dense", "previous_level"):
      distill.check_teacher_path(config.distill.teacher)
  replicas = strategy.num_replicas_in_sync
  batch_size = getattr(data.train, "batch_size", None)
  if batch_size and batch_size % replicas:
    raise ValueError(
        f"DataConfig.batch_size={batch_size} is not divisible by the "
        f"{replicas} replicas of strategy={config.distribute.strategy!r}; "
        f"it is the global batch, use a multiple of {replicas}.")
  if (config.executor.name == "ray" and
      importlib.util.find_spec("ray") is None):
    raise ValueError(
        "ExecutorConfig.name='ray' needs Ray, which is not installed; "
        "install it with pip install 'kdticket_tf[ray]'.")
  if config.executor.name != "sequential":
    if config.data.dataset == "user" or config.model.name == "user":
      raise ValueError(
          f"ExecutorConfig.name={config.executor.name!r} runs stages in "
          "other processes, which rebuild the data and the model from the "
          "registry; a search of your own model or tf.data datasets runs "
          "with the 'sequential' executor.")


def _is_model(value):
  """True for a built Keras model (tf_keras or Keras 3)."""
  return (not isinstance(value, type) and hasattr(value, "layers") and
          hasattr(value, "fit"))


def check_model_fn(model_fn):
  """Refuses a `model_fn` that is not a function returning a model.

  A built model is refused rather than reused: every stage trains a fresh
  copy, and `reinit` draws fresh initial weights from the run's seed, which
  one model object cannot give.
  """
  if _is_model(model_fn):
    raise ValueError(
        f"model_fn is a built model ({type(model_fn).__name__} "
        f"{getattr(model_fn, 'name', '')!r}), not a function; find_tickets "
        "needs a function that builds a fresh model on each call: pass "
        "`lambda: keras.models.clone_model(model)` or the function that "
        "built it.")
  if not callable(model_fn):
    raise ValueError(
        f"model_fn is a {type(model_fn).__name__}, not a function; "
        "find_tickets needs a function that returns a fresh tf_keras model.")
  try:
    inspect.signature(model_fn).bind()
  except TypeError:
    raise ValueError(
        f"model_fn takes arguments {inspect.signature(model_fn)}; find_tickets "
        "calls it with none: bind them first (functools.partial, or a "
        "lambda).") from None
  except ValueError:  # no signature to read (a builtin): call it and see
    pass


def _output_layer(model):
  """The layer that computes `model`'s output (inside a nested model too)."""
  history = getattr(model.outputs[0], "_keras_history", None)
  layer = history.layer if history is not None else model.layers[-1]
  if isinstance(layer, keras.Model) and layer is not model and layer.outputs:
    return _output_layer(layer)
  return layer


def _probability_name(layer):
  """'softmax' or 'sigmoid' if `layer` ends in one, else None."""
  if isinstance(layer, keras.layers.Softmax):
    return "softmax"
  function = getattr(layer, "activation", None) or getattr(
      layer, "function", None)
  name = getattr(function, "__name__", "") or ""
  if name.startswith("log_"):
    return None
  return next((p for p in _PROBABILITIES if p in name), None)


def check_model(runner, fresh=True):
  """Builds the search's model and checks it; returns the model.

  Args:
    runner: The `StageRunner` whose `build()` calls `model_fn`.
    fresh: Whether to build it twice, to check that each call returns a new
      model (a user's `model_fn`; the registry's always do).

  Returns:
    The built (unwrapped) model.

  Raises:
    ValueError: for a model the search cannot prune or train on logits.
  """
  check_model_fn(runner.model_fn)
  model = runner.build()
  if fresh and runner.build() is model:
    raise ValueError(
        "model_fn returned the same model object on two calls; find_tickets "
        "needs a fresh model on each call (every stage trains its own): "
        "build the model inside the function.")
  kind = type(model).__name__
  if not getattr(model, "_is_graph_network", False):
    if isinstance(model, keras.Sequential):
      raise ValueError(
          f"model_fn's {kind} model {model.name!r} has no input shape; "
          "find_tickets accepts built models: start it with keras.Input.")
    raise ValueError(
        f"model_fn returned a subclassed model ({kind}); find_tickets accepts "
        "Sequential and functional tf_keras models only, the ones TF-MOT can "
        "wrap for pruning: build it with keras.Sequential or "
        "keras.Model(inputs, outputs).")
  if len(model.inputs) != 1:
    raise ValueError(
        f"model_fn's model {model.name!r} has {len(model.inputs)} inputs; "
        "find_tickets accepts models of one input tensor.")
  if len(model.outputs) != 1:
    names = ", ".join(repr(_output_layer_name(t)) for t in model.outputs)
    raise ValueError(
        f"model_fn's model {model.name!r} has {len(model.outputs)} outputs "
        f"({names}); find_tickets accepts one output, the logits "
        "[batch, classes].")
  shape = tuple(model.outputs[0].shape)
  if len(shape) != 2 or shape[1] is None or shape[1] < 2:
    raise ValueError(
        f"model_fn's output has shape {list(shape)}; find_tickets needs logits "
        "of shape [batch, classes], 2 classes or more: end the model with "
        "Dense(classes).")
  layer = _output_layer(model)
  probability = _probability_name(layer)
  if probability:
    raise ValueError(
        f"model_fn's output layer {layer.name!r} has a {probability} "
        "activation; find_tickets needs logits (its losses apply the softmax "
        "themselves): remove the activation.")
  return model


def _output_layer_name(tensor):
  history = getattr(tensor, "_keras_history", None)
  return history.layer.name if history is not None else str(tensor)


def _prunable_inside(layer):
  """The prunable layers inside `layer` when it is a nested model."""
  if not isinstance(layer, keras.Model):
    return []
  return [inner.name for inner in layer.layers
          if wrapper.is_prunable(inner)] + [
              name for inner in layer.layers
              for name in _prunable_inside(inner)]


def check_pruning(config, runner, model):
  """Refuses searches that leave nothing to prune, and unmatched patterns."""
  if not config.pruning.levels:
    return
  names = [layer.name for layer in model.layers]
  for pattern in config.pruning.keep_dense:
    if not any(re.fullmatch(pattern, name) for name in names):
      raise ValueError(
          f"PruningConfig.keep_dense pattern {pattern!r} matches none of the "
          f"model's layers ({', '.join(names)}); give a regex that matches a "
          "whole layer name.")
  candidates = [layer.name for layer in model.layers
                if wrapper.is_prunable(layer)]
  if not candidates:
    nested = [layer.name for layer in model.layers
              if isinstance(layer, keras.Model)]
    raise ValueError(
        f"model_fn's model {model.name!r} has no layer to prune; find_tickets "
        "prunes the kernels of its own Dense and Conv layers" +
        (f", not those inside nested models ({', '.join(nested)}): build "
         "the model flat." if nested else ": give it at least one."))
  kept = lambda name: any(re.fullmatch(p, name)
                          for p in config.pruning.keep_dense)
  for layer in model.layers:
    inside = _prunable_inside(layer)
    if inside and not kept(layer.name):
      raise ValueError(
          f"model_fn's model {model.name!r} nests the model {layer.name!r}, "
          f"whose prunable layers ({', '.join(inside)}) would stay dense: "
          "find_tickets prunes the top model's own layers only; build the "
          f"model flat, or name {layer.name!r} in keep_dense to keep it dense.")
  if all(kept(name) for name in candidates):
    raise ValueError(
        f"PruningConfig.keep_dense={list(config.pruning.keep_dense)} leaves "
        f"none of the prunable layers ({', '.join(candidates)}) to prune; "
        "leave at least one Dense or Conv layer out of the patterns.")
  prunable = level_masks.prunable_names(runner.wrap(model))
  for pattern, _ in config.pruning.layer_fractions:
    if not any(re.fullmatch(pattern, name) for name in prunable):
      raise ValueError(
          f"PruningConfig.layer_fractions pattern {pattern!r} matches none "
          f"of the prunable layers ({', '.join(prunable)}); give a regex "
          "that matches a whole layer name.")


def check_user_datasets(train_data, test_data, validation_data=None):
  """Refuses datasets that are not `tf.data` datasets, before any is read.

  Args:
    train_data: A dataset, or a function of the epoch (a Python int) that
      returns one.
    test_data: A dataset.
    validation_data: A dataset, or None.

  Raises:
    ValueError: for something other than a dataset, or one evaluated whole
      that never ends.
  """
  if callable(train_data) and not isinstance(train_data, tf.data.Dataset):
    epoch_data = train_data(0)
    if not isinstance(epoch_data, tf.data.Dataset):
      raise ValueError(
          f"train_data(0) returned a {type(epoch_data).__name__}; a function "
          "given as train_data must return that epoch's tf.data.Dataset.")
  else:
    _check_is_dataset(train_data, "train_data")
  for name, dataset in (("test_data", test_data),
                        ("validation_data", validation_data)):
    if dataset is None and name == "validation_data":
      continue
    _check_is_dataset(dataset, name)
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
      raise ValueError(
          f"{name} is infinite (it repeats); find_tickets evaluates it whole "
          "at each epoch: give a finite dataset (drop the .repeat()).")


def input_shape(dataset):
  """Returns the shape of one input of a batched dataset (for the records).

  From the element spec when it is known, else from the first batch.
  """
  spec = dataset.element_spec
  spec = spec[0] if isinstance(spec, tuple) else spec
  shape = getattr(spec, "shape", None)
  if shape is None:
    return ()
  if not shape[1:].is_fully_defined():
    first = next(iter(dataset.take(1)), None)
    if first is None or not hasattr(first[0], "shape"):
      return ()
    shape = first[0].shape
  return tuple(shape[1:])


def _check_is_dataset(dataset, name):
  if not isinstance(dataset, tf.data.Dataset):
    raise ValueError(
        f"{name} is a {type(dataset).__name__}; find_tickets accepts a batched "
        "tf.data.Dataset of (inputs, labels): for arrays, "
        "tf.data.Dataset.from_tensor_slices((x, y)).batch(32).")


def _spec_text(spec):
  if isinstance(spec, tf.TensorSpec):
    return f"a {spec.dtype.name} tensor of shape {spec.shape.as_list()}"
  if isinstance(spec, dict):
    return f"a dict (keys {', '.join(map(repr, sorted(spec)))})"
  if isinstance(spec, (tuple, list)):
    return f"a {len(spec)}-tuple"
  return f"a {type(spec).__name__}"


def check_dataset(dataset, name, model):
  """Checks a batched dataset of `(inputs, labels[, weights])` against `model`.

  Reads the dataset's element spec and its first batch only.

  Args:
    dataset: The `tf.data.Dataset`.
    name: How the error names it (`train_data`, `test_data`, ...).
    model: The built model (`check_model`'s).

  Raises:
    ValueError: naming what the dataset yields and what is accepted.
  """
  _check_is_dataset(dataset, name)
  spec = dataset.element_spec
  accepted = ("find_tickets accepts (inputs, labels) or (inputs, labels, "
              "sample_weight) tuples")
  if isinstance(spec, dict):
    raise ValueError(
        f"{name} yields {_spec_text(spec)}; {accepted} (from TFDS: "
        "as_supervised=True).")
  if not isinstance(spec, tuple) or len(spec) not in (2, 3):
    raise ValueError(f"{name} yields {_spec_text(spec)}; {accepted}.")
  inputs, labels = spec[0], spec[1]
  if not isinstance(inputs, tf.TensorSpec):
    raise ValueError(
        f"{name}'s inputs are {_spec_text(inputs)}; find_tickets accepts one "
        "input tensor [batch, ...] per batch.")
  expected = tuple(model.input_shape[1:])
  model_shape = [None, *expected]
  shape = inputs.shape
  if shape.rank is not None:
    if shape.rank == len(expected):
      raise ValueError(
          f"{name} is not batched: its inputs have shape {shape.as_list()}, "
          f"one example of the model's input {model_shape}; batch it "
          "(dataset.batch(32)).")
    if shape.rank != len(expected) + 1 or any(
        a is not None and b is not None and a != b
        for a, b in zip(shape.as_list()[1:], expected)):
      raise ValueError(
          f"{name}'s inputs have shape {shape.as_list()}; the model takes "
          f"inputs of shape {model_shape}.")
  if not (inputs.dtype.is_floating or inputs.dtype.is_integer):
    raise ValueError(
        f"{name}'s inputs are {inputs.dtype.name}; the model takes numbers "
        f"({model.inputs[0].dtype.name}): decode or cast them in the "
        "dataset.")
  classes = model.outputs[0].shape[-1]
  _check_label_spec(labels, name, classes)
  if len(spec) == 3:
    weights = spec[2]
    if not isinstance(weights, tf.TensorSpec) or (
        weights.shape.rank not in (None, 1)):
      raise ValueError(
          f"{name}'s third item (sample weights) is {_spec_text(weights)}; "
          "find_tickets accepts one weight per example, a tensor [batch].")
  first = next(iter(dataset.take(1)), None)
  if first is None:
    raise ValueError(f"{name} is empty; give it at least one batch.")
  values = np.asarray(first[1])
  if values.size and (values.min() < 0 or values.max() >= classes):
    bad = values.min() if values.min() < 0 else values.max()
    raise ValueError(
        f"{name}'s first batch holds label {bad}; the model has {classes} "
        f"classes (outputs), so labels must lie in [0, {classes - 1}].")


def _check_label_spec(labels, name, classes):
  accepted = (f"find_tickets accepts integer class labels of shape [batch] "
              f"(0 to {classes - 1})")
  if not isinstance(labels, tf.TensorSpec):
    raise ValueError(f"{name}'s labels are {_spec_text(labels)}; {accepted}.")
  shape = labels.shape.as_list() if labels.shape.rank is not None else None
  if shape is not None and len(shape) == 2 and shape[1] == classes:
    raise ValueError(
        f"{name}'s labels are one-hot ({labels.dtype.name} of shape {shape}); "
        f"{accepted}: tf.argmax(labels, -1).")
  if shape is not None and len(shape) == 2 and shape[1] == 1:
    raise ValueError(
        f"{name}'s labels have shape {shape}; {accepted}: "
        "tf.squeeze(labels, -1).")
  if shape is not None and len(shape) != 1:
    raise ValueError(
        f"{name}'s labels have shape {shape}; {accepted}.")
  if not labels.dtype.is_integer:
    raise ValueError(
        f"{name}'s labels are {labels.dtype.name}; {accepted}: "
        "tf.cast(labels, tf.int64).")
