"""What the tests share: a tiny model, tiny data and configs, small runs.

Tests import this module for their setup instead of importing one another.
"""

import os
import subprocess
import sys
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras

import kdticket_tf  # pylint: disable=unused-import  (Keras 2 before TensorFlow)
from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.pruning import channel_groups
from kdticket_tf.pruning import wrapper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (12,)


def model_fn():
  """A three-layer MLP on `SHAPE` inputs, four classes."""
  inputs = keras.Input(SHAPE, name="x")
  x = keras.layers.Dense(32, activation="relu", name="fc1")(inputs)
  x = keras.layers.Dense(16, activation="relu", name="fc2")(x)
  return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


def tiny_data(batch_size=32, examples=256, validation_size=0):
  """Synthetic data for `model_fn`: 8 steps per epoch by default."""
  return data.load(config.DataConfig(
      dataset="synthetic", synthetic_shape=SHAPE, synthetic_classes=4,
      synthetic_examples=examples + validation_size,
      validation_size=validation_size, batch_size=batch_size,
      eval_batch_size=64))


def tiny_config(recipe_names=("lt",), schedule="iterative", levels=2,
                rewind="3it", epochs=2, lr_schedule="constant", milestones=(),
                **sections):
  """A `LotteryConfig` for `model_fn` and `tiny_data`, exports off."""
  return config.LotteryConfig(
      recipes=tuple(recipe_names),
      train=config.TrainConfig(
          duration=config.Duration(epochs, "ep"), learning_rate=0.05,
          lr_schedule=lr_schedule, milestones=milestones, verbose=0,
          weight_decay=1e-4),
      pruning=config.PruningConfig(schedule=schedule, fraction=0.2,
                                   levels=levels,
                                   rewind_step=config.Duration.parse(rewind)),
      **{"export": config.ExportConfig(saved_model=False), **sections})


def synthetic_config(recipes=("lt",), levels=2, export=False, fraction=0.5,
                     **train):
  """A `LotteryConfig` of the registered synthetic dataset and LeNet."""
  return config.LotteryConfig(
      recipes=tuple(recipes),
      data=config.DataConfig(dataset="synthetic", synthetic_examples=512,
                             batch_size=64),
      train=config.TrainConfig(**{"duration": config.Duration(2, "ep"),
                                  "learning_rate": 0.05, "verbose": 0,
                                  **train}),
      pruning=config.PruningConfig(levels=levels, fraction=fraction,
                                   rewind_step=config.Duration(1, "ep")),
      export=config.ExportConfig(saved_model=export))


def stage_file(workdir, recipe, level, name):
  """Returns a file of a stage's folder, e.g. `masks.npz`."""
  return os.path.join(layout_lib.Layout(workdir).stage_dir(
      layout_lib.StageKey(recipe, level)), name)


def prunable_positions(base):
  """Positions of the prunable kernels among a base model's weights."""
  wrapped = wrapper.wrap_model(base)
  ids = [id(w) for w in base.weights]
  return [ids.index(id(w)) for _, w, _ in wrapper.prunable_variables(wrapped)]


def prunable_arrays(path):
  """Returns the prunable kernels of a weights file of `model_fn`."""
  arrays = weights_lib.load_arrays(path)
  return [arrays[p] for p in prunable_positions(model_fn())]


def npz_differences(first, second):
  """Returns the `.npz` files of two workdirs whose arrays differ (or lack)."""
  found = []
  for folder, _, names in os.walk(first):
    for name in sorted(n for n in names if n.endswith(".npz")):
      path = os.path.join(folder, name)
      other = os.path.join(second, os.path.relpath(path, first))
      if not os.path.exists(other):
        found.append(f"{other} is missing")
        continue
      with np.load(path) as a, np.load(other) as b:
        if a.files != b.files or not all(np.array_equal(a[k], b[k])
                                         for k in a.files):
          found.append(os.path.relpath(path, first))
  return found


def run_cli(*args, timeout=600, **popen):
  """Runs the trainer as a user does (no TF_CPP_MIN_LOG_LEVEL of theirs)."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  command = [sys.executable, "-m", "kdticket_tf.train", *args]
  if popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, **popen)
  return subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout, check=False)


def run_tool(name, *args, timeout=300, env=None):
  """Runs `tools/<name>` from the repository root; the finished process.

  `env`: variables set for the tool beside this process's environment.
  """
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "tools", name), *args], cwd=ROOT,
      capture_output=True, text=True, check=False, timeout=timeout,
      env=dict(os.environ, **(env or {}), PYTHONPATH=ROOT))


class ReportDocChecks:
  """A study doc is what its committed rows give: mixed into a TestCase.

  `TOOL` (a tool with `--check` and `--doc`), `DOC` (the doc, from the
  repository root) and `TABLE` (one of its marked tables) name the study.
  """
  TOOL = DOC = TABLE = None

  def test_the_doc_is_up_to_date_with_its_rows(self):
    result = run_tool(self.TOOL, "--check")
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_a_table_edited_by_hand_is_caught(self):
    with open(os.path.join(ROOT, self.DOC), encoding="utf-8") as stream:
      text = stream.read()
    marker = f"<!-- table:{self.TABLE} -->\n"
    self.assertIn(marker, text)
    path = os.path.join(self.get_temp_dir(), os.path.basename(self.DOC))
    with open(path, "w", encoding="utf-8") as stream:
      stream.write(text.replace(marker, marker + "| 80 | lt | 99.99 |\n", 1))
    result = run_tool(self.TOOL, "--check", f"--doc={path}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("out of date", result.stderr)


# A user's own data and model, as `find_tickets` gets them (tf.data, tf_keras).
USER_CLASSES = 3
USER_FEATURES = 12


def user_arrays(examples=32, seed=0):
  """Returns (inputs, labels): separable classes with a little noise."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, USER_CLASSES, size=examples)
  inputs = (np.eye(USER_CLASSES, USER_FEATURES)[labels] +
            0.1 * rng.normal(size=(examples, USER_FEATURES))).astype(np.float32)
  return inputs, labels.astype(np.int64)


def user_dataset(transform=None, batch=8):
  """Returns `user_arrays` as a tf.data dataset, mapped and batched."""
  inputs, labels = user_arrays()
  dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
  if transform:
    dataset = dataset.map(transform)
  return dataset.batch(batch) if batch else dataset


# A user's own Keras 3 script: `.keras` files loaded without kdticket_tf.
_KERAS3_SCRIPT = """
import sys
import numpy as np
import keras
inputs = np.load(sys.argv[1])
for number, path in enumerate(sys.argv[2:]):
  model = keras.saving.load_model(path)
  outputs = np.asarray(model(inputs, training=False))
  np.savez(f"loaded_{number}.npz", outputs=outputs,
           **{f"{layer.name}/{index}": value for layer in model.layers
              for index, value in enumerate(layer.get_weights())})
print(keras.__version__, sorted(
    m for m in sys.modules if m.startswith(("kdticket_tf", "tf_keras"))))
"""


def load_in_keras3(paths, inputs, folder):
  """Loads `.keras` files in a plain Keras 3 process (no kdticket_tf).

  The process runs in `folder`, without `TF_USE_LEGACY_KERAS` or this
  repository on its path, as a user's own script would.

  Returns:
    What the process printed (Keras's version and the kdticket_tf or tf_keras
    modules it loaded: none), and for each file `(outputs on inputs,
    {"<layer>/<index>": weight})`.
  """
  np.save(os.path.join(folder, "inputs.npy"), inputs)
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH",
                      "KDTICKET_TF_SET_LOG_LEVEL")}
  result = subprocess.run(
      [sys.executable, "-c", _KERAS3_SCRIPT, "inputs.npy",
       *[os.path.abspath(path) for path in paths]],
      cwd=folder, env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"),
      capture_output=True, text=True, timeout=600, check=False)
  if result.returncode:
    raise AssertionError(result.stderr[-3000:])
  loaded = []
  for number in range(len(paths)):
    with np.load(os.path.join(folder, f"loaded_{number}.npz")) as arrays:
      loaded.append((arrays["outputs"], {k: arrays[k] for k in arrays.files
                                         if k != "outputs"}))
  return result.stdout.strip().splitlines()[-1], loaded


def zero_channel_groups(model, groups):
  """Zeroes each channel group's kernel slices, biases, BatchNorm gamma and
  beta in `model`, as the `channel` structure leaves a pruned group."""
  for group in groups:
    for name, channel in group.producers:
      weights = model.get_layer(name).get_weights()
      weights[0][..., channel] = 0.0
      if len(weights) > 1:
        weights[1][channel] = 0.0
      model.get_layer(name).set_weights(weights)
    for name, channel in group.followers:
      weights = model.get_layer(name).get_weights()
      weights[0][channel], weights[1][channel] = 0.0, 0.0
      model.get_layer(name).set_weights(weights)


def channel_ticket(model, fraction=0.5, seed=0):
  """Zeroes a random `fraction` of `model`'s channel groups by hand.

  Returns:
    The model's `ChannelGraph` and the zeroed groups, in its order.
  """
  graph = channel_groups.find(model)
  rng = np.random.default_rng(seed)
  chosen = tuple(g for g in graph.groups if rng.random() < fraction)
  zero_channel_groups(model, chosen)
  return graph, chosen


def set_moving_statistics(model, seed=1):
  """Gives every BatchNormalization non-trivial moving means and variances,
  and its live channels (gamma not zero) a random gamma and beta."""
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      gamma, beta, mean, variance = layer.get_weights()
      live = gamma != 0
      layer.set_weights([
          np.where(live, rng.uniform(0.5, 1.5, gamma.shape), 0.0),
          np.where(live, rng.normal(0.0, 0.3, beta.shape), 0.0),
          rng.normal(0.0, 0.5, mean.shape),
          rng.uniform(0.5, 2.0, variance.shape)])


def residual_convnet(input_shape=(8, 8, 3)):
  """A conv net with BatchNormalization and a residual Add (channel tests)."""
  layers = keras.layers
  inputs = keras.Input(input_shape)
  c1 = layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
  r1 = layers.ReLU(name="relu1")(layers.BatchNormalization(name="bn1")(c1))
  c2 = layers.Conv2D(4, 3, padding="same", name="c2")(r1)
  joined = layers.Add(name="add")([layers.BatchNormalization(name="bn2")(c2),
                                   r1])
  c3 = layers.Conv2D(6, 1, name="c3")(layers.ReLU(name="relu2")(joined))
  pooled = layers.GlobalAveragePooling2D(name="gap")(c3)
  return keras.Model(inputs, layers.Dense(3, name="logits")(pooled))


def recording_checkpoints(found):
  """Patches training's checkpoint saves to read each checkpoint as written.

  Appends `(path, {variable: array})` of the model's variables to `found`
  (a stage removes its checkpoints once it is done); use as a context.
  """
  save = tf.train.CheckpointManager.save

  def save_and_read(manager, *args, **kwargs):
    path = save(manager, *args, **kwargs)
    reader = tf.train.load_checkpoint(path)
    found.append((path, {key: reader.get_tensor(key)
                         for key in reader.get_variable_to_shape_map()
                         if key.startswith("model/")}))
    return path
  return mock.patch.object(tf.train.CheckpointManager, "save", save_and_read)
