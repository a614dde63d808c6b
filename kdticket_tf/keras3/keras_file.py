"""A ticket written back in the user's Keras: a `.keras` file Keras 3 loads.

The ticket's weights (a tf_keras model) are copied layer by layer into a fresh
build of the user's own Keras 3 model, checked to be the same numbers (the
pruned weights exactly zero), and saved with `model.save`: a plain Keras 3
process opens it with `keras.saving.load_model`, without kdticket_tf. The file
is the user's model itself, as `model_fn` built it: it takes the inputs the
search trained on (normalised as the dataset's normalisation says, where the
SavedModel takes raw inputs) and returns logits.

A compacted channel ticket goes into the user's model rebuilt at its narrower
widths (`narrow.build`), and its outputs are checked against the compacted
network's too (`write_compacted`): the file holds the narrower network, its
pruned channels absent rather than zero.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from kdticket_tf.keras3 import narrow
from kdticket_tf.keras3 import translate


def _check_outputs(keras3_model, ticket, inputs):
  """Raises when the two models' outputs on `inputs` differ (a bug)."""
  expected = [np.asarray(o, np.float64) for o in
              tf.nest.flatten(ticket(inputs, training=False))]
  found = [np.asarray(o, np.float64) for o in
           tf.nest.flatten(keras3_model(inputs, training=False))]
  scale = max([1.0] + [float(np.max(np.abs(e))) for e in expected if e.size])
  same_shapes = [e.shape for e in expected] == [f.shape for f in found]
  difference = (max(float(np.max(np.abs(e - f)))
                    for e, f in zip(expected, found))
                if same_shapes else float("inf"))
  if not difference <= translate.TOLERANCE * scale:
    raise RuntimeError(
        f"the Keras 3 ticket {keras3_model.name!r} differs from the tf_keras "
        f"one by {difference:.3g} on {len(inputs)} inputs (more than "
        f"{translate.TOLERANCE:g} x {scale:.3g}) with the same weights; this "
        "is a bug in kdticket_tf, please report it.")


def write(keras3_model, ticket, path, inputs=None):
  """Writes `ticket`'s weights, in `keras3_model`, as the `.keras` file `path`.

  Args:
    keras3_model: A fresh build of the user's Keras 3 model (its weights are
      replaced).
    ticket: The tf_keras model holding the ticket's weights (stripped).
    path: Where to write; ends in `.keras`.
    inputs: A batch of model inputs on which the two models' outputs are
      compared (within `translate.TOLERANCE` of their scale) before writing;
      None: the weights alone are compared.

  Returns:
    What `ticket.json` records of it: the file's name and Keras's version.

  Raises:
    RuntimeError: if a weight did not arrive exactly, or the outputs differ
      (a bug).
  """
  translate.copy_weights(ticket, keras3_model)
  targets = {layer.name: layer for layer in keras3_model.layers}
  for layer in ticket.layers:
    values = layer.get_weights()
    if values and not all(
        np.array_equal(value, copied) for value, copied in
        zip(values, targets[layer.name].get_weights())):
      raise RuntimeError(
            f"layer {layer.name!r} of the Keras 3 ticket differs from the "
            "tf_keras one after copying its weights; this is a bug in "
            "kdticket_tf, please report it.")
  if inputs is not None:
    _check_outputs(keras3_model, ticket, inputs)
  keras3_model.save(path)
  return {"keras_file": os.path.basename(path),
          "keras_version": keras.__version__}


def write_compacted(keras3_model, compacted, path, inputs):
  """Writes a compacted channel ticket as the user's narrower Keras 3 model.

  Args:
    keras3_model: A build of the user's Keras 3 model (full width; not
      changed).
    compacted: The compacted tf_keras network (`Compaction.model`).
    path: Where to write; ends in `.keras`.
    inputs: A batch of model inputs on which the two are compared.

  Returns:
    What the compacted ticket's `ticket.json` records of it (see `write`).

  Raises:
    ValueError: when the user's model has no layer to hold a narrowed width
      (`narrow.build`).
    RuntimeError: if a weight or an output differs (a bug).
  """
  return write(narrow.build(keras3_model, compacted), compacted, path, inputs)
