"""Where the search meets the user's model: tf_keras as is, Keras 3 translated.

The search builds every model through `start_build` and `engine_model`
(`search/stages.py`): a tf_keras model goes on as it is; a Keras 3 model
(`import keras`, or `tf.keras` when TensorFlow came first and chose Keras 3) is
rebuilt as tf_keras by `translate`; anything else is refused, naming its type.
Which Keras a run's model is comes from `model_fn` each time it is called, so a
resumed run and a worker process know it as the first process did.

This module does not import Keras 3: `translate` and `keras_file` (which do)
are imported the first time a Keras 3 model is seen.
"""

import sys

import tf_keras


def is_keras3(value):
  """True if `value` is an object of Keras 3 (a model, a layer)."""
  module = type(value).__module__
  return module == "keras" or module.startswith("keras.")


def _keras3():
  """The Keras 3 module if it is loaded (nothing is imported), else None."""
  module = sys.modules.get("keras")
  version = getattr(module, "__version__", "") or ""
  return module if version.startswith("3.") else None


def start_build(seed):
  """Seeds the next build and restarts the names of unnamed layers.

  A layer left unnamed gets the same name in every build and every process
  (`dense`, `dense_1`, ...), in tf_keras and, once it is loaded, in Keras 3,
  so the names a stage records are the names a resumed stage builds.
  """
  tf_keras.utils.set_random_seed(seed)
  tf_keras.backend.reset_uids()
  keras3 = _keras3()
  if keras3 is not None:
    keras3.utils.set_random_seed(seed)
    # Keras 3 has no public way to restart its names but `clear_session`,
    # which would also reset the user's global settings.
    naming = sys.modules.get("keras.src.utils.naming")
    if hasattr(naming, "reset_uids"):
      naming.reset_uids()


def _describe(value):
  kind = type(value)
  return f"a {kind.__name__} ({kind.__module__}.{kind.__qualname__})"


def engine_model(model):
  """Returns `model` as the tf_keras model the search trains.

  Args:
    model: What `model_fn` returned.

  Returns:
    `model` itself if it is tf_keras; its translation if it is Keras 3.

  Raises:
    ValueError: for something that is no Keras model, or a Keras 3 model the
      translation refuses.
  """
  if isinstance(model, tf_keras.Model):
    return model
  if is_keras3(model):
    from kdticket_tf.keras3 import translate  # Keras 3, loaded on first use
    return translate.translate(model)
  if isinstance(model, tf_keras.layers.Layer):
    raise ValueError(
        f"model_fn returned a tf_keras {type(model).__name__} layer "
        f"({model.name!r}), not a model; find_tickets needs a function that "
        "returns a fresh Sequential or functional model.")
  raise ValueError(
      f"model_fn returned {_describe(model)}, not a Keras model; find_tickets "
      "needs a function that returns a fresh tf_keras or Keras 3 Sequential "
      "or functional model.")


def check_translation(keras3_model, inputs, where):
  """Refuses a Keras 3 model whose translation computes something else.

  Args:
    keras3_model: A fresh build of the user's Keras 3 model.
    inputs: A batch of the data the search trains or tests on.
    where: What `inputs` are, for the message (`the first batch of test_data`).

  Raises:
    ValueError: when the outputs differ by more than `translate.TOLERANCE`.
  """
  from kdticket_tf.keras3 import translate
  translate.check_outputs(keras3_model, translate.translate(keras3_model),
                          inputs, where)


def write_keras_file(keras3_model, ticket, path):
  """Writes a ticket as a `.keras` file; returns what `ticket.json` records.

  See `keras_file.write`.
  """
  from kdticket_tf.keras3 import keras_file
  return keras_file.write(keras3_model, ticket, path)


def write_compacted_keras_file(keras3_model, compacted, path, inputs):
  """Writes a compacted channel ticket as the user's narrower Keras 3 model.

  See `keras_file.write_compacted`; returns what `ticket.json` records.
  """
  from kdticket_tf.keras3 import keras_file
  return keras_file.write_compacted(keras3_model, compacted, path, inputs)
