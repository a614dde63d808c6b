"""MNIST and Fashion-MNIST: a prepared TFDS copy, else the original IDX gz files.

TFDS cannot download here, so when it has no prepared copy these builders read
the four original files (`train-images-idx3-ubyte.gz`, ...) from the first folder
that has them: `DataConfig.data_dir` (itself or `<data_dir>/<name>`), Debian's
`/usr/share/datasets/<name>` (package `dataset-fashion-mnist`), or the Keras cache
`~/.keras/datasets/<name>`; for MNIST also the Keras cache's `mnist.npz`.
"""

import gzip
import os
import struct

import numpy as np

from kdticket_tf.data import catalog
from kdticket_tf.data import pipeline
from kdticket_tf.data import tfds_sources

_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
}
_FOLDER_NAMES = {
    "mnist": ("mnist",),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist"),
}


def read_idx(path):
  """Reads one IDX file (optionally gzipped) into a NumPy array.

  Raises:
    ValueError: naming the file when its header or size is wrong.
  """
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as stream:
      content = stream.read()
  except (OSError, EOFError) as error:
    raise ValueError(f"{path} cannot be read ({error}).") from None
  if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != 8:
    raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
  rank = content[3]
  dims = struct.unpack(">" + "I" * rank, content[4:4 + 4 * rank])
  body = np.frombuffer(content, np.uint8, offset=4 + 4 * rank)
  if body.size != int(np.prod(dims)):
    raise ValueError(
        f"{path} is truncated: {body.size} bytes for shape {dims}.")
  return body.reshape(dims)


def candidate_folders(name, data_dir):
  """Returns the folders searched for the IDX files of `name`, in order."""
  folders = []
  if data_dir:
    folders.append(data_dir)
    folders.extend(os.path.join(data_dir, n) for n in _FOLDER_NAMES[name])
  folders.extend(os.path.join("/usr/share/datasets", n)
                 for n in _FOLDER_NAMES[name])
  folders.extend(os.path.expanduser(os.path.join("~/.keras/datasets", n))
                 for n in _FOLDER_NAMES[name])
  return folders


def load_idx_arrays(name, data_dir):
  """Returns ((train x, y), (test x, y)) from IDX files or `mnist.npz`.

  Raises:
    catalog.DataNotFoundError: saying where it looked and how to get it.
  """
  folders = candidate_folders(name, data_dir)
  for folder in folders:
    paths = {k: os.path.join(folder, f) for k, f in _FILES.items()}
    if all(os.path.exists(p) for p in paths.values()):
      arrays = {k: read_idx(p) for k, p in paths.items()}
      return ((arrays["train_images"][..., None], arrays["train_labels"]),
              (arrays["test_images"][..., None], arrays["test_labels"]))
  if name == "mnist":
    npz = os.path.expanduser("~/.keras/datasets/mnist.npz")
    if os.path.exists(npz):
      with np.load(npz) as archive:
        return ((archive["x_train"][..., None], archive["y_train"]),
                (archive["x_test"][..., None], archive["y_test"]))
  hint = ("install Debian's package dataset-fashion-mnist (apt-get install "
          "dataset-fashion-mnist)" if name == "fashion_mnist" else
          "copy the four IDX gz files into DataConfig.data_dir")
  raise catalog.DataNotFoundError(
      f"Dataset {name!r} was found neither as a prepared TFDS copy nor as IDX "
      f"files in {', '.join(folders)}; {hint}, or prepare it with TFDS.")


def _build(name):
  def build(config, seed):
    try:
      train, test = tfds_sources.load_arrays(name, config.data_dir)
    except catalog.DataNotFoundError:
      train, test = load_idx_arrays(name, config.data_dir)
    mean, std = _STATS[name]
    return pipeline.from_arrays(name, train, test, config, seed, mean, std,
                                num_classes=10, augment=None)
  return build


catalog.register("mnist")(_build("mnist"))
catalog.register("fashion_mnist")(_build("fashion_mnist"))
