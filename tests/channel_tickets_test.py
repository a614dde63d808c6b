"""Channel tickets end to end: pruned channels stay exactly zero.

A pruned channel's kernel slices, bias and BatchNormalization gamma and beta
are exactly 0.0 after every optimizer step (SGD with momentum, Adam), so its
output is exactly 0.0; the same in every checkpoint and `final.weights.npz` of
a search that runs every recipe on channel masks, and in a stage that resumes
from its masks. The command line runs a channel search, in sequence and on
local workers.
"""

import concurrent.futures
import dataclasses
import os
import re
import shutil
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tf_keras as keras

from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf import models
from kdticket_tf.pruning import structures
from kdticket_tf.pruning import wrapper
from kdticket_tf.report import results
from kdticket_tf.search import lottery
from kdticket_tf.store import artifacts
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.training import fit as training
from tests import testing

layers = keras.layers
SHAPE = (8, 8, 1)
RECIPES = ("lt", "rewind", "lr_rewind", "finetune", "kd", "kd_rewind",
           "random_reinit", "random_prune")


def convnet():
  """Conv, BatchNormalization, a residual Add, pooling, Flatten, Dense."""
  inputs = keras.Input(SHAPE, name="x")
  c1 = layers.Conv2D(6, 3, padding="same", name="c1")(inputs)
  r1 = layers.ReLU(name="relu1")(layers.BatchNormalization(name="bn1")(c1))
  c2 = layers.Conv2D(6, 3, padding="same", name="c2")(r1)
  joined = layers.Add(name="add")([layers.BatchNormalization(name="bn2")(c2),
                                   r1])
  pooled = layers.MaxPooling2D(2, name="pool")(layers.ReLU(name="relu2")(
      joined))
  c3 = layers.Conv2D(8, 3, padding="same", name="c3")(pooled)
  r3 = layers.ReLU(name="relu3")(layers.BatchNormalization(name="bn3")(c3))
  hidden = layers.Dense(16, activation="relu", name="fc")(
      layers.Flatten(name="flat")(r3))
  return keras.Model(inputs, layers.Dense(4, name="logits")(hidden))


def _builders():
  return {
      "lenet": (lambda: models.build(
          config.ModelConfig(name="lenet_300_100"), (28, 28, 1), 10),
                (28, 28, 1), 10),
      "convnet": (convnet, SHAPE, 4),
      "resnet20": (lambda: models.build(
          config.ModelConfig(name="resnet_cifar", depth=20), (28, 28, 1),
          10), (28, 28, 1), 10),
  }


def channel_ticket(base, sparsity=0.5):
  """Wraps `base`, sets channel masks at `sparsity`; returns what it made."""
  wrapped = wrapper.wrap_model(base)
  names = [n for n, _, _ in wrapper.prunable_variables(wrapped)]
  kernels = [w.numpy() for _, w, _ in wrapper.prunable_variables(wrapped)]
  bound = structures.get("channel").bind(base, names)
  masks = bound.target_masks(kernels, sparsity)
  wrapper.set_masks(wrapped, masks)
  wrapper.set_pruned_channels(wrapped, bound.pruned_channels(masks))
  return wrapped, bound, masks


class ExactZerosTest(tf.test.TestCase, parameterized.TestCase):
  """After every optimizer step: kernel slices, bias, gamma, beta, output."""

  def assert_channels_zero(self, base, wrapped, pruned, inputs):
    for _, weight, mask in wrapper.prunable_variables(wrapped):
      self.assertTrue(np.all(weight.numpy()[mask.numpy() == 0] == 0.0))
    outputs = keras.Model(base.inputs, [base.get_layer(n).get_output_at(0)
                                        for n in pruned])
    for training_mode in (False, True):
      values = outputs(inputs, training=training_mode)
      for (name, channels), value in zip(pruned.items(), values):
        layer = base.get_layer(name)
        for attribute in ("kernel", "bias", "gamma", "beta"):
          variable = getattr(layer, attribute, None)
          if variable is not None:
            self.assertTrue(
                np.all(variable.numpy()[..., channels] == 0.0),
                f"{name}.{attribute}")
        self.assertTrue(np.all(value.numpy()[..., channels] == 0.0),
                        f"{name}'s output")
        self.assertTrue(np.any(value.numpy() != 0.0), name)  # others live

  @parameterized.product(
      model=("lenet", "convnet", "resnet20"),
      optimizer=("sgd_momentum", "adam"))
  def test_pruned_channels_are_exactly_zero_after_every_step(self, model,
                                                             optimizer):
    build, shape, classes = _builders()[model]
    keras.utils.set_random_seed(1)
    base = build()
    wrapped, bound, _ = channel_ticket(base)
    pruned = bound.pruned_channels(wrapper.get_masks(wrapped))
    self.assertTrue(any(base.get_layer(n).__class__.__name__ ==
                        "BatchNormalization" for n in pruned) or
                    model == "lenet")
    training.add_weight_decay(wrapped, 1e-3)
    wrapped.compile(
        keras.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd_momentum"
        else keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(8,) + shape).astype(np.float32)
    before = [v.numpy().copy() for v in base.trainable_weights]
    for step in range(3 if model == "resnet20" else 5):
      wrapped.train_on_batch(inputs, rng.integers(0, classes, size=8))
      self.assert_channels_zero(base, wrapped, pruned, inputs)
    after = [v.numpy() for v in base.trainable_weights]
    self.assertFalse(all(np.array_equal(a, b) for a, b in zip(before, after)))
    self.assertLen(wrapper.channel_masked_variables(wrapped),
                   sum(1 for n in pruned for a in ("bias", "gamma", "beta")
                       if getattr(base.get_layer(n), a, None) is not None))
    del step


def _channel_data():
  return data.load(config.DataConfig(
      dataset="synthetic", synthetic_shape=SHAPE, synthetic_classes=4,
      synthetic_examples=256, batch_size=32, eval_batch_size=64))


def _checkpoint_parameters(arrays, model):
  """`{(layer, attribute): value}` of a checkpoint's bias, gamma and beta.

  A checkpoint names a layer by its position among the wrapped model's
  layers with weights (`layer_with_weights-N`, under `student/` in a
  Distiller's); the teacher's layers are left out.
  """
  named = [l.layer.name if isinstance(l, wrapper.MaskedPruneLowMagnitude)
           else l.name for l in wrapper.wrap_model(model).layers if l.weights]
  found = {}
  for key, value in arrays.items():
    match = re.match(r"model/(student/)?layer_with_weights-(\d+)/(layer/)?"
                     r"(bias|gamma|beta)/", key)
    if match:
      found[(named[int(match.group(2))], match.group(4))] = value
  return found


class ChannelSearchTest(tf.test.TestCase):
  """Every recipe on channel masks: zeros in checkpoints and weights, rows."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = os.path.join(tf.compat.v1.test.get_temp_dir(), "channels")
    cls.config = config.LotteryConfig(
        recipes=RECIPES,
        train=config.TrainConfig(duration=config.Duration(2, "ep"),
                                 learning_rate=0.05, verbose=0,
                                 weight_decay=1e-4),
        pruning=config.PruningConfig(
            schedule="iterative", levels=1, fraction=0.5,
            structure="channel", rewind_step=config.Duration(3, "it")),
        export=config.ExportConfig(saved_model=False))
    cls.checkpoints = []
    with testing.recording_checkpoints(cls.checkpoints):
      cls.rows = lottery.Lottery(convnet, _channel_data(), cls.config,
                                 cls.workdir).run()

  def _pruned(self, recipe):
    """The pruned channels of a stage, from its masks."""
    base = convnet()
    wrapped = wrapper.wrap_model(base)
    bound = structures.get("channel").bind(
        base, [n for n, _, _ in wrapper.prunable_variables(wrapped)])
    return bound.pruned_channels(weights_lib.load_arrays(
        testing.stage_file(self.workdir, recipe, 1, "masks.npz")))

  def test_every_recipe_keeps_its_channels_zero_in_checkpoints_and_weights(
      self):
    for recipe in RECIPES:
      pruned = self._pruned(recipe)
      self.assertTrue({"bn1", "bn2", "bn3"} & set(pruned), recipe)
      stage = testing.stage_file(self.workdir, recipe, 1, "")
      written = [arrays for path, arrays in self.checkpoints
                 if path.startswith(os.path.join(stage, "checkpoints"))]
      self.assertLen(written, 2, recipe)  # one per epoch
      for arrays in written:
        parameters = _checkpoint_parameters(arrays, convnet())
        self.assertIn(("bn1", "gamma"), parameters)
        for (name, attribute), value in parameters.items():
          self.assertTrue(np.all(value[pruned.get(name, [])] == 0.0),
                          (recipe, name, attribute))
          self.assertTrue(np.any(value != 0.0) or attribute != "gamma")
      base = convnet()
      weights_lib.load_model_weights(
          testing.stage_file(self.workdir, recipe, 1, "final.weights.npz"),
          base)
      for name, channels in pruned.items():
        for attribute in ("kernel", "bias", "gamma", "beta"):
          variable = getattr(base.get_layer(name), attribute, None)
          if variable is not None:
            self.assertTrue(np.all(variable.numpy()[..., channels] == 0.0),
                            (recipe, name, attribute))

  def test_magnitude_recipes_share_masks_and_random_prune_draws_channels(self):
    lt = self._pruned("lt")
    for recipe in ("rewind", "kd", "kd_rewind", "random_reinit"):
      self.assertEqual(self._pruned(recipe), lt, recipe)
    drawn = self._pruned("random_prune")
    self.assertEqual({n: len(c) for n, c in drawn.items()},
                     {n: len(c) for n, c in lt.items()})
    self.assertNotEqual(drawn, lt)

  def test_rows_give_channels_removed_and_multiply_adds_left(self):
    rows = {r["recipe"]: r for r in results.read(self.workdir)}
    self.assertEqual((rows["dense"]["channels_removed"],
                      rows["dense"]["flops_remaining"]), (0.0, 1.0))
    for recipe in RECIPES:
      row = rows[recipe]
      self.assertEqual(row["structure"], "channel")
      self.assertNear(row["sparsity"], 0.5, 0.1)
      self.assertGreater(row["channels_removed"], 0.0)
      self.assertLess(row["flops_remaining"], 1.0)
      metrics = artifacts.read_json(
          testing.stage_file(self.workdir, recipe, 1, "metrics.json"))
      self.assertEqual(metrics["row"]["flops_remaining"],
                       row["flops_remaining"])
    # Multiply-adds by hand: c1 and c2 at 8 x 8 positions, c3 at 4 x 4,
    # fc and logits at one; a layer does those of its kept kernel entries.
    masks = weights_lib.load_arrays(
        testing.stage_file(self.workdir, "lt", 1, "masks.npz"))
    positions = [64, 64, 16, 1, 1]  # c1, c2, c3, fc, logits
    self.assertAllClose(
        rows["lt"]["flops_remaining"],
        sum(np.count_nonzero(m) * p for m, p in zip(masks, positions)) /
        sum(m.size * p for m, p in zip(masks, positions)))
    # 6 + 6 + 8 + 16 hidden channels.
    pruned = self._pruned("lt")
    self.assertAllClose(rows["lt"]["channels_removed"],
                        sum(len(pruned.get(n, [])) for n in
                            ("c1", "c2", "c3", "fc")) / 36)
    with open(os.path.join(self.workdir, "results.csv")) as stream:
      self.assertIn("channels_removed,flops_remaining", stream.readline())

  def test_refill_under_imp_nests_whole_channel_masks_level_by_level(self):
    workdir = os.path.join(self.get_temp_dir(), "refill_imp")
    settings = dataclasses.replace(
        self.config, recipes=("lt", "kd"),
        train=dataclasses.replace(self.config.train,
                                  duration=config.Duration(1, "ep")),
        pruning=dataclasses.replace(self.config.pruning, levels=2,
                                    fraction=0.3, channel_criterion="refill"))
    rows = lottery.Lottery(convnet, _channel_data(), settings, workdir).run()
    base = convnet()
    wrapped = wrapper.wrap_model(base)
    bound = structures.get("channel").bind(
        base, [n for n, _, _ in wrapper.prunable_variables(wrapped)],
        criterion="refill")
    for recipe in ("lt", "kd"):
      level1, level2 = (weights_lib.load_arrays(testing.stage_file(
          workdir, recipe, level, "masks.npz")) for level in (1, 2))
      for first, second in zip(level1, level2):
        self.assertTrue(np.all(second <= first), recipe)
      pruned1, pruned2 = (bound.pruned_channels(m) for m in (level1, level2))
      self.assertTrue(pruned1, recipe)
      for name, channels in pruned1.items():
        self.assertContainsSubset(channels, pruned2[name], (recipe, name))
      self.assertGreater(sum(map(len, pruned2.values())),
                         sum(map(len, pruned1.values())), recipe)
      # Each level removes about 30% of the weights still alive.
      levels = sorted((r["level"], r["sparsity"]) for r in rows
                      if r["recipe"] == recipe)
      self.assertNear(levels[0][1], 0.3, 0.1)
      self.assertNear(levels[1][1], 1 - 0.7 ** 2, 0.1)

  def test_a_resumed_stage_reads_its_masks_and_keeps_the_zeros(self):
    workdir = os.path.join(self.get_temp_dir(), "resumed")
    shutil.copytree(self.workdir, workdir)
    stage = testing.stage_file(workdir, "kd_rewind", 1, "")
    masks = weights_lib.load_arrays(os.path.join(stage, "masks.npz"))
    for name in ("metrics.json", "final.weights.npz"):
      os.remove(os.path.join(stage, name))
    with mock.patch.object(training, "train",
                           wraps=training.train) as trained:
      lottery.Lottery(convnet, _channel_data(), self.config, workdir).run()
    self.assertEqual(trained.call_count, 1)  # kd_rewind alone trains again
    for old, new in zip(masks, weights_lib.load_arrays(
        os.path.join(stage, "masks.npz"))):
      self.assertAllEqual(old, new)
    base = convnet()
    weights_lib.load_model_weights(os.path.join(stage, "final.weights.npz"),
                                   base)
    for name, channels in self._pruned("kd_rewind").items():
      for attribute in ("bias", "gamma", "beta"):
        variable = getattr(base.get_layer(name), attribute, None)
        if variable is not None:
          self.assertTrue(np.all(variable.numpy()[channels] == 0.0))


# The command of issue 32, smaller: `configs/smoke.flags` with one one-shot
# channel level, on 1,024 examples (8 steps) for one epoch.
COMMAND = ("--flagfile=configs/smoke.flags", "--sparsity_structure=channel",
           "--levels=1", "--prune_schedule=oneshot", "--target_sparsities=0.5",
           "--train_size=1024", "--epochs=1")


class CommandLineTest(tf.test.TestCase):
  """The command line, in sequence and on two local workers."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    folder = tf.compat.v1.test.get_temp_dir()
    cls.workdirs = {name: os.path.join(folder, f"command_{name}")
                    for name in ("sequential", "local")}
    extra = {"sequential": (), "local": ("--executor=local", "--workers=2")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
      cls.runs = dict(zip(extra, pool.map(
          lambda name: testing.run_cli(
              *COMMAND, f"--workdir={cls.workdirs[name]}", *extra[name]),
          extra)))

  def test_it_exits_zero_with_channel_rows(self):
    for name, run in self.runs.items():
      self.assertEqual(run.returncode, 0, f"{name}: {run.stderr[-2000:]}")
      rows = results.read(self.workdirs[name])
      self.assertEqual({r["recipe"] for r in rows},
                       {"dense", "lt", "rewind", "kd"})
      for row in rows:
        self.assertEqual(row["structure"], "channel")
        if row["level"]:
          self.assertNear(row["sparsity"], 0.5, 0.01)
          self.assertGreater(row["channels_removed"], 0.2)
          self.assertNear(row["flops_remaining"], row["weights_remaining"],
                          1e-9)  # LeNet: one position per Dense layer

  def test_ticket_json_gives_the_rows_figures_and_the_compaction_agrees(self):
    workdir = self.workdirs["sequential"]
    rows = {r["recipe"]: r for r in results.read(workdir) if r["level"]}
    for recipe, row in rows.items():
      ticket = artifacts.read_json(os.path.join(
          workdir, "export", "serving", recipe, "1", "ticket.json"))
      self.assertEqual((ticket["channels_removed"], ticket["flops_remaining"]),
                       (row["channels_removed"], row["flops_remaining"]))
      # The compacted network does the multiply-adds the row counts.
      self.assertAllClose(ticket["compacted"]["macs_ratio"],
                          row["flops_remaining"])

  def test_local_workers_find_the_same_masks_and_keep_the_zeros(self):
    for recipe in ("lt", "rewind", "kd"):
      masks = [weights_lib.load_arrays(testing.stage_file(
          self.workdirs[name], recipe, 1, "masks.npz")) for name in self.runs]
      for first, second in zip(*masks):
        self.assertAllEqual(first, second)
      base = models.build(config.ModelConfig(name="lenet_300_100"),
                          (28, 28, 1), 10)
      weights_lib.load_model_weights(testing.stage_file(
          self.workdirs["local"], recipe, 1, "final.weights.npz"), base)
      kernels = {name: base.get_layer(name).kernel.numpy()
                 for name in ("fc1", "fc2", "logits")}
      dead = np.flatnonzero(~masks[1][0].any(axis=0))  # fc1's pruned units
      self.assertGreater(dead.size, 30)
      self.assertTrue(np.all(kernels["fc1"][:, dead] == 0.0))
      self.assertTrue(np.all(kernels["fc2"][dead] == 0.0))
      self.assertTrue(np.all(base.get_layer("fc1").bias.numpy()[dead] == 0.0))


if __name__ == "__main__":
  tf.test.main()
