"""Tests of the KD loss and the Distiller."""

import os
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl.testing import parameterized

from kdticket_tf.training import distill
from kdticket_tf.store import layout
from kdticket_tf.search import lottery
from kdticket_tf.training import recipes
from kdticket_tf.training import fit as training
from kdticket_tf.data import pipeline
from kdticket_tf.data import streams
from kdticket_tf.data import synthetic
from kdticket_tf.pruning import wrapper
from kdticket_tf.search import ticket_stage
from tests import testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDENT = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]], np.float32)
TEACHER = np.array([[1.5, 0.0, -0.5], [-1.0, 2.0, 1.0]], np.float32)
LABELS = np.array([0, 2])


def _numpy_loss(alpha, temperature, reduction):
  def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
  log_s = log_softmax(STUDENT / temperature)
  log_t = log_softmax(TEACHER / temperature)
  kl_sum = (np.exp(log_t) * (log_t - log_s)).sum()
  kl = kl_sum / 2 if reduction == "batchmean" else kl_sum / 6
  ce = -log_softmax(STUDENT)[np.arange(2), LABELS].mean()
  return alpha * temperature**2 * kl + (1 - alpha) * ce


def _mlp(seed, name):
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((8,))
  x = keras.layers.Dense(16, activation="relu", name="fc1")(inputs)
  return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name=name)


def _arrays():
  images, labels = synthetic.make_arrays((8,), 3, 64, seed=0)
  return images, labels


def _stream():
  images, labels = _arrays()
  return streams.ArrayStream(images, labels, 16, seed=0,
                             preprocess=pipeline.normalizer((0.5,), (0.3,)))


class DistillationLossTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(alpha=(0.0, 0.3, 0.9, 1.0),
                         temperature=(1.0, 4.0, 5.0),
                         reduction=("batchmean", "mean"))
  def test_matches_numpy(self, alpha, temperature, reduction):
    expected = _numpy_loss(alpha, temperature, reduction)
    eager = distill.distillation_loss(LABELS, STUDENT, TEACHER, alpha,
                                      temperature, reduction)
    graph = tf.function(distill.distillation_loss)(
        LABELS, STUDENT, TEACHER, alpha, temperature, reduction)
    self.assertAllClose(eager, expected, rtol=1e-5)
    self.assertAllClose(graph, expected, rtol=1e-5)

  @parameterized.product(alpha=(0.0, 0.9, 1.0), temperature=(1.0, 4.0),
                         reduction=("batchmean", "mean"))
  def test_gradient_matches_the_analytic_one(self, alpha, temperature,
                                             reduction):
    # d/dz_s of alpha T^2 KL(p_t || q_s) + (1 - alpha) CE(y, z_s), per example:
    # alpha T (q_s - p_t) [/ C for `mean`] + (1 - alpha) (softmax(z_s) - y).
    def softmax(z):
      e = np.exp(z - z.max(axis=1, keepdims=True))
      return e / e.sum(axis=1, keepdims=True)
    soft = alpha * temperature * (softmax(STUDENT / temperature) -
                                  softmax(TEACHER / temperature))
    if reduction == "mean":
      soft /= 3
    expected = (soft + (1 - alpha) * (softmax(STUDENT) - np.eye(3)[LABELS])) / 2
    student = tf.constant(STUDENT)
    with tf.GradientTape() as tape:
      tape.watch(student)
      loss = distill.distillation_loss(LABELS, student, TEACHER, alpha,
                                       temperature, reduction)
    self.assertAllClose(tape.gradient(loss, student), expected, atol=1e-6)

  def test_hand_computed_value(self):
    # Teacher = student: KL is 0, so alpha=0.5 gives half the cross-entropy
    # of logits [0, ln 3] for label 0: 0.5 * ln(4).
    logits = np.array([[0.0, np.log(3.0)]], np.float32)
    loss = distill.distillation_loss([0], logits, logits, 0.5, 4.0)
    self.assertAllClose(loss, 0.5 * np.log(4.0), rtol=1e-6)

  def test_alpha_zero_is_cross_entropy(self):
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        LABELS, STUDENT)
    self.assertAllClose(
        distill.distillation_loss(LABELS, STUDENT, TEACHER, 0.0, 5.0), ce)

  def test_alpha_one_is_scaled_kl(self):
    kl = keras.losses.KLDivergence()(tf.nn.softmax(TEACHER / 4.0),
                                     tf.nn.softmax(STUDENT / 4.0))
    self.assertAllClose(
        distill.distillation_loss(LABELS, STUDENT, TEACHER, 1.0, 4.0),
        16.0 * kl, rtol=1e-5)
    self.assertAllClose(
        distill.distillation_loss(LABELS, STUDENT, TEACHER, 1.0, 4.0, "mean"),
        16.0 * kl / 3, rtol=1e-5)

  def test_unknown_reduction_raises(self):
    with self.assertRaisesRegex(ValueError, "reduction='sum'"):
      distill.distillation_loss(LABELS, STUDENT, TEACHER, 0.5, 2.0, "sum")


class DistillerTest(tf.test.TestCase):

  def _distiller(self):
    student = wrapper.wrap_model(_mlp(1, "student"))
    rng = np.random.default_rng(0)
    wrapper.set_masks(student, [(rng.random(w.shape) < 0.3).astype(np.float32)
                                for _, w, _ in
                                wrapper.prunable_variables(student)])
    teacher = _mlp(2, "teacher")
    model = distill.Distiller(student, teacher, alpha=0.9, temperature=4.0)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    return model, student, teacher

  def test_compile_distiller_traces_the_train_function_once(self):
    model, _, _ = self._distiller()
    distill.compile_distiller(model, keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(_stream().stream(0), steps_per_epoch=4, epochs=2, verbose=0)
    self.assertEqual(model.train_function.experimental_get_tracing_count(), 1)

  def test_teacher_frozen_student_trained_pruned_weights_zero(self):
    model, student, teacher = self._distiller()
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    student_before = [w.numpy().copy() for w in student.trainable_weights]
    model.fit(_stream().stream(0), steps_per_epoch=4, epochs=3, verbose=0)
    for before, after in zip(teacher_before, teacher.weights):
      self.assertAllEqual(before, after.numpy())  # bit-identical
    changed = [not np.array_equal(b, a.numpy())
               for b, a in zip(student_before, student.trainable_weights)]
    self.assertTrue(all(changed))
    for _, weight, mask in wrapper.prunable_variables(student):
      self.assertTrue(np.all(weight.numpy()[mask.numpy() == 0] == 0.0))

  def test_gradients_reach_the_student_only(self):
    model, student, teacher = self._distiller()
    self.assertEqual({id(v) for v in model.trainable_variables},
                     {id(v) for v in student.trainable_variables})
    self.assertEmpty(teacher.trainable_variables)

  def test_train_step_loss_matches_distillation_loss(self):
    model, student, teacher = self._distiller()
    model.optimizer.learning_rate = 0.0  # measure, do not move
    inputs, labels = next(iter(_stream().stream(0)))
    expected = distill.distillation_loss(labels, student(inputs),
                                         teacher(inputs), 0.9, 4.0)
    logs = model.train_on_batch(inputs, labels, return_dict=True)
    self.assertAllClose(logs["loss"], expected, rtol=1e-5)

  def test_sample_weights_weigh_each_example_as_keras_does(self):
    model, student, teacher = self._distiller()
    model.optimizer.learning_rate = 0.0
    inputs, labels = next(iter(_stream().stream(0)))
    weights = tf.constant(np.linspace(0.0, 2.0, 16), tf.float32)
    per_example = distill.per_example_distillation_loss(
        labels, student(inputs), teacher(inputs), 0.9, 4.0)
    logs = model.train_on_batch(inputs, labels, sample_weight=weights,
                                return_dict=True)
    self.assertAllClose(logs["loss"],
                        tf.reduce_sum(per_example * weights) / 16.0, rtol=1e-5)
    self.assertNotAllClose(logs["loss"], tf.reduce_mean(per_example))

  def test_per_class_third_element_is_refused(self):
    model, _, _ = self._distiller()
    inputs, labels = next(iter(_stream().stream(0)))
    with self.assertRaisesRegex(ValueError, r"shape \(16, 3\).*\[batch\]"):
      model.train_on_batch(inputs, labels, sample_weight=tf.ones([16, 3]))

  def test_cached_teacher_logits_give_the_live_loss(self):
    model, student, teacher = self._distiller()
    stream = _stream()
    logits = teacher.predict(stream.ordered(16), verbose=0)
    cached = stream.with_extra(logits)
    live_batch = next(iter(stream.stream(5)))
    cached_batch = next(iter(cached.stream(5)))
    self.assertAllEqual(live_batch[0], cached_batch[0])
    live = distill.distillation_loss(live_batch[1], student(live_batch[0]),
                                     teacher(live_batch[0]), 0.9, 4.0)
    from_cache = distill.distillation_loss(
        cached_batch[1], student(cached_batch[0]),
        cached_batch[2][distill.TEACHER_LOGITS], 0.9, 4.0)
    self.assertAllClose(live, from_cache, rtol=1e-6)
    model.optimizer.learning_rate = 0.0
    self.assertAllClose(
        model.train_on_batch(*live_batch, return_dict=True)["loss"],
        model.train_on_batch(*cached_batch, return_dict=True)["loss"], rtol=1e-6)

  def test_cache_refused_for_augmented_data(self):
    images, labels = _arrays()
    images = images.reshape(64, 2, 2, 2)
    stream = streams.ArrayStream(images, labels, 16, 0, lambda x: x,
                                 augment=pipeline.pad_crop_flip(1))
    with self.assertRaisesRegex(ValueError, "augmentation"):
      stream.with_extra(np.zeros((64, 3), np.float32))

  def test_stop_distillation_switches_to_hard_labels(self):
    model, _, _ = self._distiller()
    model.fit(_stream().stream(0), steps_per_epoch=2, epochs=2, verbose=0,
              callbacks=[distill.StopDistillation(1)])
    self.assertEqual(float(model.alpha.numpy()), 0.0)

  def test_evaluate_reports_student_accuracy(self):
    model, student, _ = self._distiller()
    dataset = _stream().ordered(16)
    student.compile(metrics=[keras.metrics.SparseCategoricalAccuracy(
        name="accuracy")], loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
    expected = student.evaluate(dataset, verbose=0, return_dict=True)
    got = model.evaluate(dataset, verbose=0, return_dict=True)
    self.assertAllClose(got["accuracy"], expected["accuracy"])
    self.assertAllClose(got["loss"], expected["loss"], rtol=1e-5)


  def test_works_with_update_pruning_step_and_checkpoints(self):
    import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
    model, student, _ = self._distiller()
    model.fit(_stream().stream(0), steps_per_epoch=3, epochs=2, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    prefix = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(
        os.path.join(self.get_temp_dir(), "ckpt"))
    restored, restored_student, _ = self._distiller()
    tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).restore(
        prefix).assert_existing_objects_matched()
    for a, b in zip(student.weights, restored_student.weights):
      self.assertAllEqual(a.numpy(), b.numpy())


class LoadTeacherTest(tf.test.TestCase):

  def _teacher(self):
    return _mlp(5, "teacher")

  def test_npz_keras_weights_and_savedmodel(self):
    from kdticket_tf.store import weights as weights_lib  # pylint: disable=g-import-not-at-top
    teacher = self._teacher()
    inputs = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    expected = teacher(inputs)
    folder = self.get_temp_dir()
    npz = os.path.join(folder, "teacher.weights.npz")
    weights_lib.save_model_weights(npz, teacher)
    h5 = os.path.join(folder, "teacher.h5")
    teacher.save_weights(h5)
    saved_model = os.path.join(folder, "teacher_savedmodel")
    teacher.save(saved_model)
    for path in (npz, h5, saved_model):
      loaded = distill.load_teacher(path, lambda: _mlp(9, "fresh"))
      self.assertAllClose(loaded(inputs), expected, rtol=1e-6, msg=path)

  def test_missing_teacher_path_is_reported(self):
    with self.assertRaisesRegex(ValueError, "DistillConfig.teacher='/no/such'"):
      distill.load_teacher("/no/such", self._teacher)


class KdRecipeTest(tf.test.TestCase):

  def test_kd_recipes_switch_on_distillation_through_the_table(self):
    self.assertEqual(
        {name for name in recipes.names() if recipes.get(name).distill},
        {"kd", "kd_rewind", "kd_lr_rewind", "kd_finetune"})
    kd_rewind = recipes.get("kd_rewind")
    rewind = recipes.get("rewind")
    self.assertEqual((kd_rewind.start, kd_rewind.schedule_start),
                     (rewind.start, rewind.schedule_start))

  def test_kd_rewind_starts_from_theta_k_with_the_schedule_offset(self):
    cfg = testing.tiny_config(("rewind", "kd_rewind"), levels=1, rewind="5it")
    workdir = os.path.join(self.get_temp_dir(), "kd_rewind")
    search = lottery.Lottery(testing.model_fn, testing.tiny_data(), cfg,
                             workdir)
    self.assertEqual(search.runner.rewind.plan(recipes.get("kd_rewind")),
                     training.TrainingPlan(steps=11, schedule_offset=5,
                                           data_offset=5))
    search.runner.run(layout.DENSE_KEY)
    starts = []
    for name in ("rewind", "kd_rewind"):
      base = testing.model_fn()
      ticket_stage.load_start_weights(search.runner, recipes.get(name), 1,
                                      base)
      starts.append(base.get_weights())
    for a, b in zip(*starts):
      self.assertAllEqual(a, b)

  def test_one_dense_run_teaches_every_kd_recipe(self):
    cfg = testing.tiny_config(("lt", "kd", "kd_rewind", "kd_lr_rewind",
                               "kd_finetune"), levels=1)
    workdir = os.path.join(self.get_temp_dir(), "kd_all")
    search = lottery.Lottery(testing.model_fn, testing.tiny_data(), cfg,
                             workdir)
    with mock.patch.object(distill, "load_teacher",
                           wraps=distill.load_teacher) as load:
      rows = search.run()
    self.assertLen(rows, 6)
    paths = {call.args[0] for call in load.call_args_list}
    self.assertEqual(paths, {os.path.join(workdir, "dense",
                                          "final.weights.npz")})
    self.assertLen(load.call_args_list, 4)


class DistillerUnderMirroredStrategyTest(tf.test.TestCase):

  def test_fit_on_two_virtual_cpus(self):
    script = textwrap.dedent("""
        import kdticket_tf, numpy as np, tensorflow as tf, tf_keras as keras
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from kdticket_tf.training import distill
        from kdticket_tf.pruning import wrapper
        from tests import distill_test
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
          student = wrapper.wrap_model(distill_test._mlp(1, "student"))
          masks = [(np.random.default_rng(0).random(w.shape) < 0.3).astype("float32")
                   for _, w, _ in wrapper.prunable_variables(student)]
          wrapper.set_masks(student, masks)
          teacher = distill_test._mlp(2, "teacher")
          model = distill.Distiller(student, teacher)
          model.compile(keras.optimizers.SGD(0.1, momentum=0.9))
        before = [w.numpy().copy() for w in teacher.weights]
        history = model.fit(distill_test._stream().stream(0), steps_per_epoch=4,
                            epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, teacher.weights))
        for _, w, m in wrapper.prunable_variables(student):
          assert np.all(w.numpy()[m.numpy() == 0] == 0.0)
        print("REPLICAS", strategy.num_replicas_in_sync)
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT,
                                     TF_CPP_MIN_LOG_LEVEL="2"),
                            capture_output=True, text=True, timeout=300,
                            check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("REPLICAS 2", result.stdout)


if __name__ == "__main__":
  tf.test.main()
