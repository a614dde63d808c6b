"""Every path and file name of a workdir, in one place.

    config.json, flags.txt       the resolved configuration, the flags it ran with
    model.json                   input shape, classes, normalisation (for exports)
    results.json / .csv / .md    one row per stage, written by the coordinator
    accuracy_vs_sparsity.png     the plot of those rows
    .lock                        the coordinator's lock
    dense/                       the dense run (level 0)
      init.weights.npz           θ0
      rewind.weights.npz         θk, the weights after the rewind step
      final.weights.npz          θT
      metrics.json               the row and the per-epoch history
      checkpoints/ epochs/       resume state, removed once the stage is done
      .lock                      held by the process training the stage
    <recipe>/level_NN/           one folder per recipe and level
      masks.npz, thresholds.json the level's masks and pruning thresholds
      final.weights.npz          the trained ticket (pruned weights exactly 0)
      metrics.json, checkpoints/, epochs/
    instability.json / .csv / .md, instability.png
                                 the instability analysis's rows and plot
    rewind_choice.json           `rewind_step=auto`'s choice and its table
    instability/level_NN/        the instability stage of level NN's network
                                 (00: the dense one): start_<k>it/ holds the
                                 two copies and the row of start step k
    tensorboard/                 `dense`, `<recipe>/level_NN` (per-epoch runs of
                                 each stage) and `summary` (the lottery curves)
    export/serving/<recipe>/<L>/ the servable ticket (TF Serving layout; the dense
                                 model is `dense/0`)
      model.keras                the ticket as a Keras 3 file, when the model
                                 came in as Keras 3
    export/serving/<recipe>_compact/<L>/
                                 a channel ticket compacted: the narrower network
                                 (TF Serving model `<recipe>_compact`, version L)
      model.keras                the narrower network as a Keras 3 file, when
                                 the model came in as Keras 3
    export/tflite/<recipe>_level_NN.tflite    (and _int8.tflite, quantized;
                                 _compact.tflite, the compacted network)
    workers/<type>_<index>/      a non-chief multi-worker process's own state

A stage is named by a `StageKey`: `dense` (level 0) or a recipe and a level.
"""

import os
from typing import NamedTuple

DENSE = "dense"
CONFIG = "config.json"
FLAGS = "flags.txt"
LOCK = ".lock"
FINAL_WEIGHTS = "final.weights.npz"
CHECKPOINTS = "checkpoints"  # a training's resume state: its checkpoints
EPOCHS = "epochs"  # ... and its per-epoch records
TICKET = "ticket.json"  # an exported ticket's description
KERAS_FILE = "model.keras"  # ... and the ticket in Keras 3's format
COMPACT = "_compact"  # a compacted channel ticket's model name and file suffix
_SERVING = ("export", "serving")  # the TF Serving base folder of a workdir


class StageKey(NamedTuple):
  """A stage of a search: the dense run, or a recipe at a pruned level."""
  recipe: str
  level: int

  def __str__(self):
    if self.recipe == DENSE:
      return DENSE
    return f"{self.recipe}/level_{self.level:02d}"

  @classmethod
  def parse(cls, text):
    """Returns the key written by `str(key)`."""
    if text == DENSE:
      return DENSE_KEY
    recipe, level = text.rsplit("/level_", 1)
    return cls(recipe, int(level))


DENSE_KEY = StageKey(DENSE, 0)


class Layout:
  """The paths of one workdir."""

  def __init__(self, workdir):
    self.workdir = workdir

  def _path(self, *parts):
    return os.path.join(self.workdir, *parts)

  # The run as a whole.
  @property
  def config(self):
    return self._path(CONFIG)

  @property
  def flags(self):
    return self._path(FLAGS)

  @property
  def model_info(self):
    return self._path("model.json")

  @property
  def lock(self):
    return self._path(LOCK)

  def results(self, extension):
    """`results.json`, `.csv` or `.md`."""
    return self._path(f"results.{extension}")

  @property
  def plot(self):
    return self._path("accuracy_vs_sparsity.png")

  # The instability analysis.
  def instability(self, extension):
    """`instability.json`, `.csv`, `.md` or `.png`."""
    return self._path(f"instability.{extension}")

  @property
  def rewind_choice(self):
    return self._path("rewind_choice.json")

  def instability_start(self, key, step):
    """The folder of start step `step` of instability stage `key`: its row
    (`row.json`) and its two copies (`copy_1/`, `copy_2/`)."""
    return os.path.join(self.stage_dir(key), f"start_{int(step)}it")

  def instability_copy(self, key, step, index):
    """The folder of copy `index` (1 or 2) trained from start step `step`."""
    return os.path.join(self.instability_start(key, step), f"copy_{index}")

  def start_weights(self, step):
    """θk of the dense run at step `step`, saved for the instability analysis."""
    return os.path.join(self.stage_dir(DENSE_KEY),
                        f"start_{int(step)}it.weights.npz")

  # One stage.
  def stage_dir(self, key):
    if key.recipe == DENSE:
      return self._path(DENSE)
    return self._path(key.recipe, f"level_{key.level:02d}")

  def final_weights(self, key):
    return os.path.join(self.stage_dir(key), FINAL_WEIGHTS)

  def masks(self, key):
    return os.path.join(self.stage_dir(key), "masks.npz")

  def thresholds(self, key):
    return os.path.join(self.stage_dir(key), "thresholds.json")

  def metrics(self, key):
    return os.path.join(self.stage_dir(key), "metrics.json")

  def stage_lock(self, key):
    """The lock of the process that trains `key` (see `stage_lock.py`)."""
    return os.path.join(self.stage_dir(key), LOCK)

  def resume_dirs(self, key):
    """The folders of an unfinished stage's checkpoints and epoch records."""
    folder = self.stage_dir(key)
    return os.path.join(folder, CHECKPOINTS), os.path.join(folder, EPOCHS)

  @property
  def init_weights(self):
    """θ0, the dense network's initial weights."""
    return os.path.join(self.stage_dir(DENSE_KEY), "init.weights.npz")

  @property
  def rewind_weights(self):
    """θk, the dense network's weights after the rewind step."""
    return os.path.join(self.stage_dir(DENSE_KEY), "rewind.weights.npz")

  # TensorBoard.
  @property
  def tensorboard(self):
    return self._path("tensorboard")

  def tensorboard_run(self, key):
    return os.path.join(self.tensorboard, str(key))

  @property
  def summary_run(self):
    return os.path.join(self.tensorboard, "summary")

  # Exports.
  def serving_path(self, key, base_dir=None):
    """`<base>/<model name>/<version>`: the recipe and the level."""
    base_dir = base_dir or self._path(*_SERVING)
    return os.path.join(base_dir, key.recipe, str(int(key.level)))

  def ticket(self, key, base_dir=None):
    """The `ticket.json` of an exported stage (see `serving_path`)."""
    return os.path.join(self.serving_path(key, base_dir), TICKET)

  def keras_file(self, key, base_dir=None):
    """The `.keras` file of an exported stage whose model is Keras 3."""
    return os.path.join(self.serving_path(key, base_dir), KERAS_FILE)

  def tflite(self, key, suffix=""):
    return self._path("export", "tflite",
                      f"{key.recipe}_level_{key.level:02d}{suffix}.tflite")

  def compact_serving_path(self, key, base_dir=None):
    """`<base>/<recipe>_compact/<version>`: a channel ticket compacted into
    the narrower network, a TF Serving model of its own (version: the level)."""
    return self.serving_path(StageKey(key.recipe + COMPACT, key.level),
                             base_dir)

  def compact_keras_file(self, key, base_dir=None):
    """The `.keras` file of a compacted channel ticket of a Keras 3 model."""
    return os.path.join(self.compact_serving_path(key, base_dir), KERAS_FILE)

  def compact_tflite(self, key):
    """The TFLite file of a compacted channel ticket."""
    return self.tflite(key, COMPACT)

  def worker(self, task_type, index):
    """The layout of a non-chief multi-worker process inside this workdir."""
    return Layout(self._path("workers", f"{task_type or 'worker'}_{index}"))


def parse_serving_path(folder):
  """Returns the workdir, model and version of an exported ticket's folder.

  The reverse of `Layout.serving_path` (and `compact_serving_path`) at the
  default base, `<workdir>/export/serving/<model>/<version>`, so that a tool
  given a ticket's folder need not know the layout.

  Args:
    folder: The folder's path (normalised first: a trailing `/` is no matter).

  Returns:
    `(workdir, model, version)`, the version an int and the workdir as the
    path names it (`''` when the path starts at `export/`); None when the
    folder is not in that layout (its version not a decimal integer included).
  """
  head, parts = os.path.normpath(folder), []
  for _ in range(len(_SERVING) + 2):
    head, name = os.path.split(head)
    parts.insert(0, name)
  model, version = parts[-2:]
  if (tuple(parts[:-2]) != _SERVING or not version.isdecimal() or
      version != str(int(version))):  # only the versions serving_path writes
    return None
  return head, model, int(version)
