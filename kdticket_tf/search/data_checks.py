"""Checks of a user's `tf.data` datasets, before a search trains on them.

A search on the user's own datasets (`find_tickets`) reads them as batched
`(inputs, labels[, sample_weight])` tuples of integer class labels. What else
they yield is refused here with one sentence that names what was found and
what is accepted (a dict from TFDS, one-hot labels, an unbatched dataset, ...),
before anything trains:

* `check_user_datasets`, in `find_tickets` before anything else: what can be
  checked without the model (datasets, finite where they are evaluated whole);
* `check_dataset`, from `checks.check_search` once the model is built: the
  element spec against the model (batched, inputs of the model's input shape,
  labels [batch] in range of its classes, from the first batch's values).

`input_shape` reads the shape of one input of a dataset, for the records.
"""

import numpy as np
import tensorflow as tf


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
    model: The built model (`checks.check_model`'s).

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
