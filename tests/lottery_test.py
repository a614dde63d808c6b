"""End-to-end tests of the level loop on a tiny model and synthetic data."""

import dataclasses
import errno
import glob
import importlib.util
import json
import os
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

import kdticket_tf
from kdticket_tf import config
from kdticket_tf import data
from kdticket_tf.store import layout
from kdticket_tf.search import lottery
from kdticket_tf.report import plots
from kdticket_tf.training import distill
from kdticket_tf.training import recipes
from kdticket_tf.training import fit as training
from kdticket_tf.search import level_masks
from kdticket_tf.pruning import masks as masks_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.pruning import wrapper
from kdticket_tf.search import ticket_stage
from tests import testing

model_fn = testing.model_fn
tiny_data = testing.tiny_data
tiny_config = testing.tiny_config
prunable_positions = testing.prunable_positions
_prunable_arrays = testing.prunable_arrays
DENSE_KEY = layout.DENSE_KEY


def level_dir(workdir, recipe, level):
  return layout.Layout(workdir).stage_dir(layout.StageKey(recipe, level))


class LotteryTest(tf.test.TestCase, parameterized.TestCase):

  def _run(self, cfg, workdir=None):
    workdir = workdir or os.path.join(self.get_temp_dir(), self.id())
    return lottery.Lottery(model_fn, tiny_data(), cfg, workdir), workdir

  @parameterized.parameters("iterative", "oneshot")
  def test_levels_have_the_nominal_sparsity_masks_and_zero_pruned_weights(
      self, schedule):
    search, workdir = self._run(tiny_config(("lt", "lr_rewind"), schedule,
                                            levels=3))
    rows = search.run()
    self.assertLen(rows, 1 + 3 * 2)
    self.assertEqual((rows[0]["recipe"], rows[0]["level"]), ("dense", 0))
    base = model_fn()
    positions = prunable_positions(base)
    for row in rows[1:]:
      self.assertNear(row["sparsity"], 1 - 0.8**row["level"], 0.005)
      folder = level_dir(workdir, row["recipe"], row["level"])
      masks = weights_lib.load_arrays(os.path.join(folder, "masks.npz"))
      final = weights_lib.load_arrays(os.path.join(folder, "final.weights.npz"))
      for mask, position in zip(masks, positions):
        pruned = final[position][mask == 0]
        self.assertNotEmpty(pruned)
        self.assertTrue(np.all(pruned == 0.0), f"{folder} position {position}")
    with open(os.path.join(workdir, "results.json")) as stream:
      self.assertEqual(json.load(stream), rows)
    dense = _prunable_arrays(os.path.join(workdir, "dense",
                                          "final.weights.npz"))
    masks = {(recipe, level): weights_lib.load_arrays(os.path.join(
        level_dir(workdir, recipe, level), "masks.npz"))
             for recipe in ("lt", "lr_rewind") for level in (1, 2, 3)}
    if schedule == "iterative":
      # IMP's masks are nested, and level 2 ranks level 1's retrained
      # weights, not θT.
      for level in (1, 2):
        for a, b in zip(masks[("lt", level)], masks[("lt", level + 1)]):
          self.assertTrue(np.all(b <= a))
      self.assertFalse(all(np.array_equal(m, e) for m, e in zip(
          masks[("lt", 2)], masks_lib.target_masks(dense, 1 - 0.8**2))))
    else:
      # One-shot ranks the dense weights θT at every level, for every recipe.
      for (recipe, level), found in masks.items():
        expected = masks_lib.target_masks(dense, 1 - 0.8**level)
        for e, f in zip(expected, found):
          self.assertAllEqual(e, f, msg=f"{recipe} level {level}")

  def test_oneshot_lr_rewinding_starts_every_level_from_theta_t(self):
    search, workdir = self._run(tiny_config(("lr_rewind",), "oneshot",
                                            levels=2))
    starts = {}
    original_train = training.train

    def recording_train(model, data, config, plan, folder, *args, **kwargs):
      starts[os.path.basename(folder)] = [
          (w.numpy().copy(), m.numpy().copy())
          for _, w, m in wrapper.prunable_variables(model)]
      return original_train(model, data, config, plan, folder, *args, **kwargs)

    with mock.patch.object(training, "train", recording_train):
      search.run()
    theta_t = _prunable_arrays(os.path.join(workdir, "dense",
                                            "final.weights.npz"))
    level1 = _prunable_arrays(os.path.join(
        level_dir(workdir, "lr_rewind", 1), "final.weights.npz"))
    expected_masks = masks_lib.target_masks(theta_t, 1 - 0.8**2)
    for (weight, mask), dense, expected, previous in zip(
        starts["level_02"], theta_t, expected_masks, level1):
      self.assertAllEqual(mask, expected)  # level 2's mask, from θT
      self.assertAllEqual(weight, dense * expected)  # θT, not level 1's
      self.assertFalse(np.array_equal(weight, previous * expected))

  def test_rewind_point_is_the_weights_after_k_steps(self):
    search, workdir = self._run(tiny_config(("rewind",), levels=1,
                                            rewind="3it"))
    search.runner.run(DENSE_KEY)
    # Train the same init for exactly 3 steps, independently.
    keras.utils.set_random_seed(0)
    base = model_fn()
    weights_lib.load_model_weights(
        os.path.join(workdir, "dense", "init.weights.npz"), base)
    training.add_weight_decay(base, 1e-4)
    training.train(base, tiny_data(), search.config.train,
                   training.TrainingPlan(steps=3),
                   os.path.join(self.get_temp_dir(), "three_steps"),
                   training.compile_classifier)
    saved = weights_lib.load_arrays(
        os.path.join(workdir, "dense", "rewind.weights.npz"))
    for expected, actual in zip(base.get_weights(), saved):
      self.assertAllClose(expected, actual, rtol=1e-6, atol=1e-7)

  def test_rewinding_restores_theta_k_bit_for_bit_on_surviving_weights(self):
    search, workdir = self._run(tiny_config(("rewind",), levels=1))
    search.runner.run(DENSE_KEY)
    recipe = recipes.get("rewind")
    base = model_fn()
    wrapped = wrapper.wrap_model(base)
    masks = level_masks.LevelMasks(search.config, search.layout).masks(
        recipe, 1, base, wrapped)
    ticket_stage.load_start_weights(search.runner, recipe, 1, base)
    wrapper.set_masks(wrapped, masks)
    theta_k = weights_lib.load_arrays(
        os.path.join(workdir, "dense", "rewind.weights.npz"))
    positions = prunable_positions(model_fn())
    for index, (expected, actual) in enumerate(zip(theta_k, base.get_weights())):
      if index in positions:
        mask = masks[positions.index(index)]
        self.assertAllEqual(actual[mask == 1], expected[mask == 1])
        self.assertTrue(np.all(actual[mask == 0] == 0.0))
      else:
        self.assertAllEqual(actual, expected)

  def test_rewind_runs_the_rest_of_the_schedule_with_a_fresh_optimizer(self):
    # 8 steps per epoch, 3 epochs, LR x0.1 at epoch 2, rewind to epoch 1.
    cfg = tiny_config(("lt", "rewind"), levels=1, rewind="1ep", epochs=3,
                      lr_schedule="step", milestones=(config.Duration(2, "ep"),))
    search, workdir = self._run(cfg)
    self.assertEqual(search.runner.rewind.plan(recipes.get("rewind")),
                     training.TrainingPlan(steps=16, schedule_offset=8,
                                           data_offset=8))
    search.run()

    def learning_rates(recipe):
      with open(os.path.join(level_dir(workdir, recipe, 1),
                             "metrics.json")) as stream:
        return [e["learning_rate"] for e in json.load(stream)["history"]]
    self.assertAllClose(learning_rates("lt"), [0.05, 0.05, 0.005])
    self.assertAllClose(learning_rates("rewind"), [0.05, 0.005])

  def test_rerun_skips_finished_levels(self):
    cfg = tiny_config(("lt",), levels=2)
    search, workdir = self._run(cfg)
    draw = mock.Mock(wraps=plots.plot_accuracy_vs_sparsity)
    # Redrawn after every stage when due (here: always), and at the end.
    with mock.patch.object(lottery, "PLOT_EVERY_SECONDS", 0.0), \
         mock.patch.object(plots, "plot_accuracy_vs_sparsity", draw):
      first = search.run()
    self.assertEqual(draw.call_count, 3 + 1)
    final = os.path.join(level_dir(workdir, "lt", 2),
                         "final.weights.npz")
    stamp = os.stat(final).st_mtime_ns
    os.remove(os.path.join(workdir, "accuracy_vs_sparsity.png"))
    draw.reset_mock()
    with mock.patch.object(training, "train") as train, \
         mock.patch.object(plots, "plot_accuracy_vs_sparsity", draw):
      second, _ = self._run(cfg, workdir)
      rows = second.run()
    train.assert_not_called()
    # Not due within the minute: drawn once, at the end.
    draw.assert_called_once()
    self.assertTrue(os.path.exists(os.path.join(workdir,
                                                "accuracy_vs_sparsity.png")))
    self.assertEqual(os.stat(final).st_mtime_ns, stamp)
    self.assertEqual([r["test_accuracy"] for r in rows],
                     [r["test_accuracy"] for r in first])

  def test_overwrite_moves_the_earlier_run_aside(self):
    cfg = tiny_config(("lt",), levels=1, epochs=1)
    search, workdir = self._run(cfg)
    first = search.run()
    reseeded = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                                  seed=1))
    second, _ = self._run(reseeded, workdir)
    second.run(overwrite=True)
    moved = glob.glob(workdir + ".replaced-*")
    self.assertLen(moved, 1)
    with open(os.path.join(moved[0], "results.json")) as stream:
      self.assertEqual(json.load(stream), first)
    self.assertFalse(os.path.exists(os.path.join(moved[0], ".lock")))
    with open(os.path.join(workdir, "config.json")) as stream:
      self.assertEqual(json.load(stream)["train"]["seed"], 1)

  def test_ray_missing_is_refused_before_training(self):
    cfg = dataclasses.replace(tiny_config(), executor=config.ExecutorConfig(
        name="ray"))
    cfg = dataclasses.replace(cfg, data=config.DataConfig(dataset="synthetic"))
    real = importlib.util.find_spec
    with mock.patch.object(importlib.util, "find_spec",
                           lambda name: None if name == "ray" else real(name)):
      with self.assertRaisesRegex(ValueError, r"pip install 'kdticket_tf\[ray\]'"):
        self._run(cfg)

  def test_interrupted_level_resumes_from_its_last_epoch(self):
    cfg = tiny_config(("lt",), levels=1, epochs=3)
    search, workdir = self._run(cfg)
    original = training.CheckpointEachEpoch.on_epoch_end
    level_folder = level_dir(workdir, "lt", 1)

    def crash_after_first_epoch_of_level_one(callback, epoch, logs=None):
      original(callback, epoch, logs)
      if os.path.isdir(level_folder) and epoch == 0:
        raise KeyboardInterrupt("simulated crash")

    with mock.patch.object(training.CheckpointEachEpoch, "on_epoch_end",
                           crash_after_first_epoch_of_level_one):
      with self.assertRaises(KeyboardInterrupt):
        search.run()
    self.assertTrue(os.path.exists(os.path.join(level_folder, "epochs",
                                                "epoch_0001.json")))
    fits = []
    original_fit = keras.Model.fit

    def recording_fit(model, *args, **kwargs):
      fits.append(kwargs.get("initial_epoch"))
      return original_fit(model, *args, **kwargs)

    with mock.patch.object(keras.Model, "fit", recording_fit):
      resumed, _ = self._run(cfg, workdir)
      rows = resumed.run()
    self.assertEqual(fits, [1])  # the dense run was done; level 1 from epoch 1
    self.assertEqual(rows[-1]["epochs"], 3)

  def test_a_full_disk_names_file_and_stage_and_a_rerun_resumes(self):
    # A checkpoint (TensorFlow's error), then a weights file (an OSError)
    # of lt level 1 cannot be written; the rerun after each resumes, and the
    # search ends as one that never met a full disk.
    cfg = tiny_config(("lt",), levels=1)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, deterministic=True))
    reference = os.path.join(self.get_temp_dir(), "reference")
    self._run(cfg, reference)[0].run()
    search, workdir = self._run(cfg)
    stage = level_dir(workdir, "lt", 1)
    save = tf.train.CheckpointManager.save

    def full_at_epoch_two(manager, checkpoint_number=None, **options):
      if manager.directory.startswith(stage) and checkpoint_number == 2:
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{manager.directory}/ckpt-2_temp/part-0; No space "
            "left on device [Op:SaveV2]")
      return save(manager, checkpoint_number=checkpoint_number, **options)

    with mock.patch.object(tf.train.CheckpointManager, "save",
                           full_at_epoch_two):
      with self.assertRaises(OSError) as raised:
        search.run()
    self.assertEqual(
        str(raised.exception),
        f"Could not write {stage}/checkpoints/ckpt-2 for stage lt/level_01: "
        "[Errno 28] No space left on device; free space and rerun to resume.")
    self.assertFalse(os.path.exists(os.path.join(stage, "metrics.json")))
    final = os.path.join(stage, "final.weights.npz")
    replace = os.replace

    def full_for_final_weights(source, target):
      if target == final:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
      return replace(source, target)

    with mock.patch.object(os, "replace", full_for_final_weights):
      with self.assertRaises(OSError) as raised:
        self._run(cfg, workdir)[0].run()
    self.assertEqual(
        str(raised.exception),
        f"Could not write {final} for stage lt/level_01: [Errno 28] No space "
        "left on device; free space and rerun to resume.")
    rows = self._run(cfg, workdir)[0].run()
    self.assertEqual(testing.npz_differences(reference, workdir), [])
    with open(os.path.join(reference, "results.json")) as stream:
      expected = json.load(stream)
    self.assertEqual([{k: v for k, v in r.items() if k != "seconds"}
                      for r in rows],
                     [{k: v for k, v in r.items() if k != "seconds"}
                      for r in expected])

  def test_rewind_step_beyond_training_is_refused(self):
    with self.assertRaisesRegex(ValueError, "rewind_step=9ep"):
      self._run(tiny_config(("rewind",), rewind="9ep"))

  def test_random_ablations_are_branches_of_the_lt_lineage(self):
    search, workdir = self._run(tiny_config(
        ("random_prune", "lt", "random_reinit"), levels=2))
    rows = search.run()
    self.assertLen(rows, 7)

    def masks(recipe, level):
      return weights_lib.load_arrays(
          os.path.join(level_dir(workdir, recipe, level), "masks.npz"))
    for level in (1, 2):
      lt, random, reinit = (masks(r, level) for r in
                            ("lt", "random_prune", "random_reinit"))
      for m, r, s in zip(lt, random, reinit):
        self.assertAllEqual(m, s)  # lt's ticket, reinitialised
        self.assertEqual(m.sum(), r.sum())  # lt's per-layer sparsity
      self.assertFalse(all(np.array_equal(m, r) for m, r in zip(lt, random)))

  def test_the_row_reports_the_test_accuracy_chosen_on_validation(self):
    data_with_validation = data.load(config.DataConfig(
        dataset="synthetic", synthetic_shape=testing.SHAPE, synthetic_classes=4,
        synthetic_examples=320, validation_size=64, batch_size=32,
        eval_batch_size=64))
    workdir = os.path.join(self.get_temp_dir(), "validation")
    rows = lottery.Lottery(model_fn, data_with_validation,
                           tiny_config(("lt",), levels=1, epochs=4),
                           workdir).run()
    for row in rows:
      with open(os.path.join(level_dir(workdir, row["recipe"],
                                               row["level"]),
                             "metrics.json")) as stream:
        history = json.load(stream)["history"]
      best = max(history, key=lambda h: (h["validation_accuracy"], -h["epoch"]))
      self.assertEqual(row["best_validation_epoch"], best["epoch"])
      self.assertEqual(row["test_accuracy_at_best_validation"],
                       best["test_accuracy"])
      self.assertNotIn("best_test_accuracy", row)

  @parameterized.parameters(("finetune", None), ("finetune", 0.003),
                            ("kd_finetune", None), ("kd_finetune", 0.003))
  def test_finetune_trains_at_the_schedule_final_rate_unless_given(self, recipe,
                                                                   rate):
    cfg = tiny_config((recipe,), levels=1, epochs=3, lr_schedule="step",
                      milestones=(config.Duration(1, "ep"),))
    cfg = dataclasses.replace(cfg, pruning=dataclasses.replace(
        cfg.pruning, finetune_lr=rate))
    workdir = os.path.join(self.get_temp_dir(), f"{recipe}_{rate}")
    rows = lottery.Lottery(model_fn, tiny_data(), cfg, workdir).run()

    def learning_rates(recipe, level):
      with open(os.path.join(level_dir(workdir, recipe, level),
                             "metrics.json")) as stream:
        return [e["learning_rate"] for e in json.load(stream)["history"]]
    expected = 0.05 * 0.1 if rate is None else rate  # after the milestone
    self.assertAllClose(learning_rates("dense", 0)[-1], 0.005)
    self.assertAllClose(learning_rates(recipe, 1), [expected] * 3)
    self.assertAllClose(rows[1]["constant_lr"], expected)

  def test_layer_fractions_prune_the_output_layer_at_its_own_rate(self):
    cfg = tiny_config(("lt",), levels=2)
    cfg = dataclasses.replace(cfg, pruning=dataclasses.replace(
        cfg.pruning, scope="layerwise", layer_fractions=(("logits", 0.1),)))
    search, workdir = self._run(cfg)
    search.run()
    for level, (hidden, output) in ((1, (0.2, 0.1)), (2, (0.36, 0.19))):
      masks = weights_lib.load_arrays(
          os.path.join(level_dir(workdir, "lt", level), "masks.npz"))
      sparsities = masks_lib.layer_sparsities(masks)
      self.assertAllClose(sparsities, [hidden, hidden, output], atol=0.02)

  def test_ablation_without_lt_is_refused(self):
    with self.assertRaisesRegex(ValueError, "takes its masks from 'lt'"):
      tiny_config(("random_reinit",), levels=1)


class TrainerOptionsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("xla", {"jit_compile": True}),
      ("mixed_float16", {"mixed_precision": "mixed_float16"}),
      ("mixed_bfloat16_steps", {"mixed_precision": "mixed_bfloat16",
                                "steps_per_execution": 3}),
  )
  def test_options_keep_masks_teacher_and_zeros(self, options):
    # kd: a pruned student (its masks) and the dense teacher in one step.
    cfg = tiny_config(("kd",), levels=1)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                             **options))
    workdir = os.path.join(self.get_temp_dir(), self._testMethodName)
    teachers = []  # (teacher, its weights when the Distiller got it)
    build_distiller = distill.Distiller.__init__

    def record_teacher(distiller, student, teacher, *args, **kwargs):
      teachers.append((teacher, [w.copy() for w in teacher.get_weights()]))
      build_distiller(distiller, student, teacher, *args, **kwargs)

    with mock.patch.object(distill.Distiller, "__init__", record_teacher):
      rows = lottery.Lottery(model_fn, tiny_data(), cfg, workdir).run()
    # run_level checks that every pruned weight is exactly zero after training.
    self.assertEqual([r["status"] for r in rows], ["done"] * 2)
    self.assertNear(rows[1]["sparsity"], 0.2, 0.005)
    self.assertEqual(keras.mixed_precision.global_policy().name, "float32")
    # The teacher is the dense θT, unpruned, and training left it unchanged.
    self.assertLen(teachers, 1)
    teacher, given = teachers[0]
    theta_t = weights_lib.load_arrays(
        os.path.join(workdir, "dense", "final.weights.npz"))
    theta_0 = weights_lib.load_arrays(
        os.path.join(workdir, "dense", "init.weights.npz"))
    self.assertLen(given, len(theta_t))
    for before, after, dense, init in zip(given, teacher.get_weights(),
                                          theta_t, theta_0):
      self.assertAllEqual(before, dense)
      self.assertAllEqual(after, dense)
      self.assertFalse(np.array_equal(dense, init))  # θT, not θ0
    self.assertFalse(teacher.trainable)
    student = _prunable_arrays(os.path.join(level_dir(workdir, "kd", 1),
                                            "final.weights.npz"))
    masks = weights_lib.load_arrays(
        os.path.join(level_dir(workdir, "kd", 1), "masks.npz"))
    for kernel, mask, dense in zip(student, masks,
                                   [theta_t[p] for p in prunable_positions(
                                       model_fn())]):
      self.assertTrue(np.all(kernel[mask == 0] == 0))
      self.assertTrue(np.all(dense[mask == 0] != 0))  # the teacher is dense

  def _with_steps_per_call(self, cfg, steps):
    return dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, steps_per_execution=steps))

  def test_rewind_step_inside_a_call_is_refused_before_training(self):
    # 8 steps per epoch in calls of 3: calls end at steps 3, 6, 8, 11, 14, 16.
    # Step 9 is a multiple of 3 that no call ends at.
    cfg = self._with_steps_per_call(tiny_config(("rewind",), rewind="9it"), 3)
    with self.assertRaisesRegex(ValueError, "rewind_step=9it .* use 8it or 11it"):
      lottery.Lottery(model_fn, tiny_data(), cfg, self.get_temp_dir())

  @parameterized.parameters(("11it", 11), ("1ep", 8))
  def test_rewind_steps_where_a_call_ends_save_theta_k(self, rewind, steps):
    # The dense run alone (levels=0) saves theta_k for the recipe.
    cfg = self._with_steps_per_call(
        tiny_config(("rewind",), levels=0, rewind=rewind), 3)
    workdir = os.path.join(self.get_temp_dir(), f"calls_{rewind}")
    rows = lottery.Lottery(model_fn, tiny_data(), cfg, workdir).run()
    self.assertEqual([r["status"] for r in rows], ["done"])
    keras.utils.set_random_seed(0)
    base = model_fn()
    weights_lib.load_model_weights(
        os.path.join(workdir, "dense", "init.weights.npz"), base)
    training.add_weight_decay(base, 1e-4)
    training.train(base, tiny_data(), cfg.train,
                   training.TrainingPlan(steps=steps),
                   os.path.join(self.get_temp_dir(), f"steps_{rewind}"),
                   training.compile_classifier)
    saved = weights_lib.load_arrays(
        os.path.join(workdir, "dense", "rewind.weights.npz"))
    for expected, actual in zip(base.get_weights(), saved):
      self.assertAllClose(expected, actual, rtol=1e-6, atol=1e-7)


if __name__ == "__main__":
  tf.test.main()
