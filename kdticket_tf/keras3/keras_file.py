"""A ticket written back in the user's Keras: a `.keras` file Keras 3 loads.

The ticket's weights (a tf_keras model) are copied layer by layer into a fresh
build of the user's own Keras 3 model, checked to be the same numbers (the
pruned weights exactly zero), and saved with `model.save`: a plain Keras 3
process opens it with `keras.saving.load_model`, without kdticket_tf. The file
is the user's model itself, as `model_fn` built it: it takes the inputs the
search trained on (normalised as the dataset's normalisation says, where the
SavedModel takes raw inputs) and returns logits.
"""

import os

import keras
import numpy as np

from kdticket_tf.keras3 import translate


def write(keras3_model, ticket, path):
  """Writes `ticket`'s weights, in `keras3_model`, as the `.keras` file `path`.

  Args:
    keras3_model: A fresh build of the user's Keras 3 model (its weights are
      replaced).
    ticket: The tf_keras model holding the ticket's weights (stripped).
    path: Where to write; ends in `.keras`.

  Returns:
    What `ticket.json` records of it: the file's name and Keras's version.

  Raises:
    RuntimeError: if a weight did not arrive exactly (a bug).
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
  keras3_model.save(path)
  return {"keras_file": os.path.basename(path),
          "keras_version": keras.__version__}
