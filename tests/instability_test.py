"""Tests of the instability analysis: barrier, path, BatchNorm, zeros, runs."""

import dataclasses
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl.testing import absltest

from tests import testing
from kdticket_tf import config as config_lib
from kdticket_tf.instability import interpolation as instability
from kdticket_tf.instability import stage as instability_stage
from kdticket_tf.store import layout as layout_lib
from kdticket_tf import api
from kdticket_tf.store import weights as weights_lib


def _analysis_config(**analysis):
  config = testing.tiny_config(("lt",), schedule="oneshot", levels=1,
                               epochs=1)
  config = dataclasses.replace(
      config, train=dataclasses.replace(config.train, deterministic=True))
  return dataclasses.replace(config, analysis=config_lib.AnalysisConfig(
      **{"name": "instability", "steps": (config_lib.Duration(0, "it"),
                                          config_lib.Duration(3, "it")),
         "points": 5, **analysis}))


class BarrierTest(tf.test.TestCase):

  def test_hand_built_path_gives_hand_computed_barrier(self):
    # max 20, mean of the ends (10 + 11) / 2 = 10.5.
    self.assertEqual(instability.barrier([10.0, 12.0, 20.0, 11.0]), 9.5)
    # A path below its ends (a convex basin) has a negative barrier.
    self.assertEqual(instability.barrier([4.0, 1.0, 2.0]), 1.0)
    self.assertEqual(instability.barrier([5.0, 3.0, 3.0, 7.0]), 1.0)

  def test_barrier_needs_two_points(self):
    with self.assertRaisesRegex(ValueError, "no two end points"):
      instability.barrier([3.0])

  def test_coefficients_include_the_ends(self):
    self.assertEqual(instability.coefficients(5), [0.0, 0.25, 0.5, 0.75, 1.0])

  def test_interpolate_keeps_ends_and_zeros_exact(self):
    first = [np.array([1.0, 0.0, 3.0], np.float32)]
    second = [np.array([-2.0, 0.0, 3.0], np.float32)]
    self.assertAllEqual(instability.interpolate(first, second, 0.0)[0],
                        first[0])
    self.assertAllEqual(instability.interpolate(first, second, 1.0)[0],
                        second[0])
    middle = instability.interpolate(first, second, 0.3)[0]
    self.assertEqual(middle[1], 0.0)
    self.assertEqual(middle[2], 3.0)
    self.assertAllClose(middle[0], 0.7 * 1.0 + 0.3 * -2.0)

  def test_choose_step_takes_the_earliest_stable_dense_row(self):
    rows = [{"level": 0, "start_step": 0, "barrier": 9.0},
            {"level": 0, "start_step": 80, "barrier": 1.5},
            {"level": 0, "start_step": 320, "barrier": 0.5},
            {"level": 1, "start_step": 0, "barrier": 0.0}]
    self.assertEqual(instability.choose_step(rows, 2.0)["start_step"], 80)
    self.assertEqual(instability.choose_step(rows, 1.0)["start_step"], 320)
    self.assertIsNone(instability.choose_step(rows, 0.1))


class BatchNormTest(tf.test.TestCase):

  def test_recomputed_statistics_equal_a_direct_computation(self):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="fc")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(n, 4)).astype(np.float32) * 3 + 1
               for n in (8, 8, 5)]
    instability.BatchNormRecomputer(model)(
        [(b, np.zeros(len(b))) for b in batches])
    kernel, bias = model.get_layer("fc").get_weights()
    means, variances, sizes = [], [], []
    for batch in batches:
      values = batch.astype(np.float64) @ kernel + bias
      means.append(values.mean(axis=0))
      variances.append(values.var(axis=0))  # biased, as Keras's
      sizes.append(len(batch))
    weights = np.array(sizes, np.float64)[:, None] / sum(sizes)
    layer = model.get_layer("bn")
    self.assertAllClose(layer.moving_mean.numpy(),
                        (weights * np.array(means)).sum(0), rtol=1e-5)
    self.assertAllClose(layer.moving_variance.numpy(),
                        (weights * np.array(variances)).sum(0), rtol=1e-5)

  def test_path_records_which_statistics_ran(self):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    data = tf.data.Dataset.from_tensor_slices(
        (np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32),
         np.arange(16) % 2)).batch(8)
    first = model.get_weights()
    second = [w + 0.1 for w in first]
    for mode in ("recomputed", "interpolated"):
      path = instability.linear_path(model, first, second, {"test": data},
                                     points=3, batchnorm=mode,
                                     batchnorm_batches=data)
      self.assertEqual(path["batchnorm"], mode)
    with self.assertRaisesRegex(ValueError, "needs batchnorm_batches"):
      instability.linear_path(model, first, second, {"test": data})


class AnalysisRunTest(tf.test.TestCase):

  def _run(self, workdir, config):
    return api.run_instability(config, workdir, testing.tiny_data(),
                                       testing.model_fn)

  def test_rows_have_the_fields_and_repeat_bit_for_bit(self):
    config = _analysis_config()
    first = self._run(os.path.join(self.get_temp_dir(), "a"), config)
    second = self._run(os.path.join(self.get_temp_dir(), "b"), config)
    self.assertLen(first, 2)
    self.assertEqual([r["start_step"] for r in first], [0, 3])
    for row in first:
      self.assertLen(row["errors"], 5)
      self.assertEqual(row["end_errors"], [row["errors"][0],
                                           row["errors"][-1]])
      self.assertAlmostEqual(row["barrier"],
                             instability.barrier(row["errors"]))
      self.assertEqual(row["bn_statistics"], instability.NO_BATCHNORM)
    self.assertEqual([r["errors"] for r in first],
                     [r["errors"] for r in second])
    for name in ("json", "csv", "md", "png"):
      self.assertTrue(os.path.exists(layout_lib.Layout(
          os.path.join(self.get_temp_dir(), "a")).instability(name)))

  def test_same_data_order_gives_barrier_exactly_zero(self):
    original = instability_stage.COPY_SEED_OFFSETS
    instability_stage.COPY_SEED_OFFSETS = (1, 1)
    try:
      rows = self._run(self.get_temp_dir(), _analysis_config(
          steps=(config_lib.Duration(3, "it"),)))
    finally:
      instability_stage.COPY_SEED_OFFSETS = original
    for row in rows:
      self.assertEqual(row["barrier"], 0.0)
      self.assertEqual(row["train_barrier"], 0.0)
      self.assertEqual(len(set(row["errors"])), 1)

  def test_ticket_zeros_hold_at_every_point_of_the_path(self):
    workdir = self.get_temp_dir()
    rows = self._run(workdir, _analysis_config(
        levels=(1,), steps=(config_lib.Duration(0, "it"),)))
    self.assertEqual(rows[0]["network"], "lt/level_01")
    self.assertGreater(rows[0]["sparsity"], 0.1)
    layout = layout_lib.Layout(workdir)
    masks = weights_lib.load_arrays(layout.masks(
        layout_lib.StageKey("lt", 1)))
    folder = os.path.join(layout.stage_dir(layout_lib.StageKey(
        "instability", 1)), "start_0it")
    ends = [weights_lib.load_arrays(os.path.join(folder, f"copy_{i}",
                                                 "final.weights.npz"))
            for i in (1, 2)]
    self.assertNotAllClose(ends[0][0], ends[1][0])
    model = testing.model_fn()
    positions = testing.prunable_positions(model)
    counts = []
    instability.linear_path(
        model, ends[0], ends[1],
        {"test": testing.tiny_data().test}, points=7,
        observe=lambda alpha, m: counts.append(
            instability_stage.pruned_nonzero(m, positions, masks)))
    self.assertEqual(counts, [0] * 7)
    # The check can fail: a leaked weight is counted.
    leaky = [w.copy() for w in ends[0]]
    leaky[positions[0]][masks[0] == 0] = 1.0
    model.set_weights(leaky)
    self.assertGreater(instability_stage.pruned_nonzero(model, positions,
                                                        masks), 0)


if __name__ == "__main__":
  absltest.main()
