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
  tf_keras model per call, a Keras 3 one as its translation, a user's
  `module:function` model too, one input, one output of logits
  [batch, classes] with no final softmax or sigmoid);
* `check_pruning`: that something is left to prune and that every layer
  pattern matches a layer; `check_structure`: that the sparsity structure
  finds something to prune in the model (the channel structure: a hidden
  channel) and can run the per-layer fractions;
* `data_checks.check_dataset` of each user dataset against the model:
  batched, `(inputs, labels[, sample_weight])`, inputs of the model's input
  shape, integer class labels [batch] in range of the model's classes;
* `check_translation`: that a Keras 3 model's tf_keras translation (the model
  every check above saw) gives its outputs on a batch of the test data.

`data_checks.check_user_datasets` runs earlier, in `find_tickets`, on what can
be checked without the model.
"""

import importlib.util
import inspect
import re

from absl import logging
import tf_keras as keras

from kdticket_tf.keras3 import boundary
from kdticket_tf.models import user_function
from kdticket_tf.pruning import wrapper
from kdticket_tf.search import data_checks
from kdticket_tf.search import level_masks
from kdticket_tf.training import distill
from kdticket_tf.training import recipes as recipes_lib

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
  model = check_model(runner, fresh=config.model.name == "user" or
                      user_function.is_function_name(config.model.name))
  check_pruning(config, runner, model)
  if config.data.dataset == "user":
    data_checks.check_dataset(data.train.ordered(), "train_data", model)
    data_checks.check_dataset(data.test, "test_data", model)
    if data.validation is not None:
      data_checks.check_dataset(data.validation, "validation_data", model)
  check_translation(runner, data)


def check_translation(runner, data):
  """Refuses a Keras 3 model whose tf_keras translation computes otherwise.

  The two models, with the user's initial weights, must give the same
  outputs on the first batch of the test data (`keras3/translate.py`); a
  tf_keras model has nothing to compare.
  """
  given = runner.build_given()
  if boundary.is_keras3(given):
    inputs = next(iter(data.test.take(1)))[0]
    boundary.check_translation(given, inputs, "the first batch of test_data")


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
        "find_tickets needs a function that returns a fresh tf_keras or "
        "Keras 3 model.")
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
  wrapped = runner.wrap(model)
  prunable = level_masks.prunable_names(wrapped)
  for pattern, _ in config.pruning.layer_fractions:
    if not any(re.fullmatch(pattern, name) for name in prunable):
      raise ValueError(
          f"PruningConfig.layer_fractions pattern {pattern!r} matches none "
          f"of the prunable layers ({', '.join(prunable)}); give a regex "
          "that matches a whole layer name.")
  check_structure(config, model, wrapped)


def check_structure(config, model, wrapped):
  """Refuses a structure with nothing to prune in the model, or per-layer
  fractions it cannot run (the channel structure: one that would prune all
  of a layer's channels); logs what the structure found, once."""
  structure = level_masks.bound_structure(config, model, wrapped)
  fractions = None
  if config.pruning.layer_fractions:
    fractions = [config.pruning.fraction_of(name)
                 for name in level_masks.prunable_names(wrapped)]
  structure.check_rates(config.pruning.num_levels, fractions)
  for line in structure.describe():
    logging.info("%s: %s", config.pruning.structure, line)
