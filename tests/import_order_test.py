"""Import order does not matter: kdticket_tf first, or TensorFlow and Keras.

Two plain processes run the same searches, one importing kdticket_tf before
TensorFlow (its `tf.keras` is then tf_keras), one importing `tensorflow` and
`keras` first (its `tf.keras` is then Keras 3, and the user's model is built
from it). In both, `import keras` is Keras 3, and a Keras 3 model and a tf_keras
model each give the same result rows as in the other process.
"""

import json
import os
import subprocess
import sys
import textwrap

import tensorflow as tf

from tests import testing

_SCRIPT = textwrap.dedent("""\
    import json
    import sys

    if sys.argv[1] == "kdticket_tf_first":
      import kdticket_tf
      import tensorflow as tf
      import keras
      import tf_keras
      assert tf.keras.Sequential is tf_keras.Sequential, tf.keras
      user_keras = keras  # the user's Keras 3
    else:
      import tensorflow as tf
      import keras
      assert tf.keras.__version__.startswith("3."), tf.keras.__version__
      import kdticket_tf
      import tf_keras
      user_keras = tf.keras  # Keras 3, as TensorFlow chose it
    assert keras.__version__.startswith("3."), keras.__version__
    import numpy as np

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=64)
    inputs = rng.normal(size=(64, 12)).astype("float32")
    inputs[np.arange(64), labels] += 2.0
    data = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(16)


    def keras3_mlp():
      return user_keras.Sequential([
          user_keras.Input((12,)),
          user_keras.layers.Dense(16, activation="relu"),
          user_keras.layers.Dense(3)])


    def tf_keras_mlp():
      return tf_keras.Sequential([
          tf_keras.Input((12,)), tf_keras.layers.Dense(16, activation="relu"),
          tf_keras.layers.Dense(3)])


    found = {}
    for name, model_fn in (("keras3", keras3_mlp), ("tf_keras", tf_keras_mlp)):
      rows = kdticket_tf.find_tickets(
          model_fn, data, data, name, recipes=("lt",),
          train=kdticket_tf.TrainConfig(
              duration=kdticket_tf.Duration(2, "ep"), verbose=0,
              deterministic=True),
          pruning=kdticket_tf.PruningConfig(levels=1),
          export=kdticket_tf.ExportConfig(saved_model=False))
      found[name] = [[row["recipe"], row["level"], row["sparsity"],
                      row["test_accuracy"], row["train_loss"]]
                     for row in rows]
    package = tf.keras.Sequential.__module__.split(".")[0]
    print(json.dumps({"rows": found, "keras": keras.__version__,
                      "tf.keras": package}))
    """)


def _run(order, folder):
  folder = os.path.join(folder, order)
  os.makedirs(folder, exist_ok=True)
  script = os.path.join(folder, "search.py")
  with open(script, "w", encoding="utf-8") as stream:
    stream.write(_SCRIPT)
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_USE_LEGACY_KERAS", "KDTICKET_TF_SET_LOG_LEVEL")}
  return subprocess.run(
      [sys.executable, script, order], cwd=folder,
      env=dict(env, PYTHONPATH=testing.ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
      capture_output=True, text=True, timeout=600, check=False)


class ImportOrderTest(tf.test.TestCase):

  def test_both_orders_run_the_same_searches(self):
    printed = {}
    for order in ("kdticket_tf_first", "tensorflow_first"):
      result = _run(order, self.get_temp_dir())
      self.assertEqual(result.returncode, 0,
                       f"{order}: {result.stderr[-3000:]}")
      printed[order] = json.loads(result.stdout.strip().splitlines()[-1])
    first, later = printed["kdticket_tf_first"], printed["tensorflow_first"]
    self.assertTrue(first["keras"].startswith("3."))
    self.assertEqual(later["keras"], first["keras"])
    self.assertEqual(first["tf.keras"], "tf_keras")
    self.assertEqual(later["tf.keras"], "keras")  # Keras 3
    self.assertEqual(later["rows"], first["rows"])
    self.assertEqual([row[:2] for row in first["rows"]["keras3"]],
                     [["dense", 0], ["lt", 1]])


if __name__ == "__main__":
  tf.test.main()
