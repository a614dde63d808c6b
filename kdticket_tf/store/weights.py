"""Weight and mask files: NumPy `.npz` archives keyed by position and name.

A weights file holds every weight of the *base* (unwrapped) model in
`model.weights` order; a masks file holds one array per prunable kernel in model
order. Keys are `000:dense.kernel` (position, then the variable's name) so a person
can read them and loading checks both count and shapes.
"""

import os
import zipfile

import numpy as np

from kdticket_tf.store import artifacts


def _key(index, name):
  name = name.split(":")[0].replace("/", ".")
  return f"{index:03d}:{name}"


def save_arrays(path, arrays, names):
  """Writes `arrays` to the `.npz` file `path` atomically."""
  if len(arrays) != len(names):
    raise ValueError(f"{len(arrays)} arrays but {len(names)} names.")
  with artifacts.atomic_path(path) as temporary:
    with open(temporary, "wb") as stream:
      np.savez(stream, **{_key(i, n): np.asarray(a)
                          for i, (a, n) in enumerate(zip(arrays, names))})


def load_arrays(path, shapes=None):
  """Reads the arrays of `path` in order, checking them against `shapes`.

  Args:
    path: An `.npz` written by `save_arrays`.
    shapes: Expected shapes, or None to skip the check.

  Returns:
    The list of arrays.

  Raises:
    ValueError: naming `path` when it is missing, corrupt or does not match
      `shapes`.
  """
  if not os.path.exists(path):
    raise ValueError(
        f"{path} is missing: the stage that writes it has not finished, or "
        f"the file was removed; delete {os.path.dirname(path)} to recompute "
        "that stage.")
  try:
    with np.load(path) as archive:
      keys = sorted(archive.files)
      arrays = [archive[key] for key in keys]
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
    raise ValueError(
        f"{path} is corrupt ({error}); delete the folder that holds it to "
        "recompute that stage.") from None
  if shapes is not None:
    found = [tuple(a.shape) for a in arrays]
    expected = [tuple(s) for s in shapes]
    if found != expected:
      raise ValueError(
          f"{path} holds {len(found)} arrays that do not match the model's "
          f"{len(expected)} weights (first difference at position "
          f"{_first_difference(found, expected)}); was it written for another "
          "model?")
  return arrays


def _first_difference(found, expected):
  for index, (a, b) in enumerate(zip(found, expected)):
    if a != b:
      return index
  return min(len(found), len(expected))


def save_model_weights(path, model):
  """Saves every weight of `model` (a base, unwrapped model) to `path`."""
  save_arrays(path, model.get_weights(), [w.name for w in model.weights])


def load_model_weights(path, model):
  """Loads weights written by `save_model_weights` into `model`."""
  arrays = load_arrays(path, [w.shape for w in model.weights])
  model.set_weights(arrays)
  return arrays
