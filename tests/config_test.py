"""Tests of configuration parsing and validation."""

import tensorflow as tf
from absl.testing import parameterized

from kdticket_tf import config
from kdticket_tf.config import settings


class DurationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(("500it", 500, "it", 500), ("3ep", 3, "ep", 300),
                            (" 2 ep ", 2, "ep", 200))
  def test_parse_and_convert(self, text, value, unit, steps):
    duration = config.Duration.parse(text)
    self.assertEqual((duration.value, duration.unit), (value, unit))
    self.assertEqual(duration.to_steps(steps_per_epoch=100), steps)

  @parameterized.parameters("500", "3 epochs", "-2it", "it", "")
  def test_bad_durations_name_the_setting(self, text):
    with self.assertRaisesRegex(ValueError, "rewind_step="):
      config.Duration.parse(text, "rewind_step")


class ValidationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("fraction_zero", lambda: config.PruningConfig(fraction=0.0),
       "PruningConfig.fraction=0.0"),
      ("fraction_one", lambda: config.PruningConfig(fraction=1.0),
       "PruningConfig.fraction=1.0"),
      ("levels", lambda: config.PruningConfig(levels=-1), "PruningConfig.levels=-1"),
      ("scope", lambda: config.PruningConfig(scope="row"), "PruningConfig.scope='row'"),
      ("targets_order", lambda: config.PruningConfig(
          schedule="oneshot", target_sparsities=(0.5, 0.4)), "increasing"),
      ("targets_iterative", lambda: config.PruningConfig(
          target_sparsities=(0.5,)), "oneshot"),
      ("keep_dense_regex", lambda: config.PruningConfig(keep_dense=("(",)),
       "keep_dense"),
      ("alpha", lambda: config.DistillConfig(alpha=1.5), "DistillConfig.alpha=1.5"),
      ("temperature", lambda: config.DistillConfig(temperature=0.0),
       "DistillConfig.temperature=0.0"),
      ("optimizer", lambda: config.TrainConfig(optimizer="rmsprop"),
       "TrainConfig.optimizer='rmsprop'"),
      ("step_without_milestones", lambda: config.TrainConfig(lr_schedule="step"),
       "milestones"),
      ("batch", lambda: config.DataConfig(batch_size=0), "DataConfig.batch_size=0"),
      ("depth", lambda: config.ModelConfig(name="resnet_cifar", depth=21),
       "ModelConfig.depth=21"),
      ("bottleneck_depth", lambda: config.ModelConfig(
          name="resnet_cifar", depth=32, block="bottleneck"), "ModelConfig.depth=32"),
      ("recipe", lambda: config.LotteryConfig(recipes=("lotto",)),
       "LotteryConfig.recipes='lotto'"),
      ("duplicate_recipe", lambda: config.LotteryConfig(recipes=("lt", "lt")),
       "twice"),
  )
  def test_bad_values_raise_naming_the_setting(self, build, message):
    with self.assertRaisesRegex(ValueError, message):
      build()

  def test_oneshot_default_targets_match_iterative_sparsities(self):
    pruning = config.PruningConfig(schedule="oneshot", fraction=0.2, levels=3)
    self.assertEqual(pruning.num_levels, 3)
    self.assertAllClose([pruning.expected_sparsity(k) for k in (1, 2, 3)],
                        [0.2, 0.36, 0.488])

  def test_to_dict_is_json_ready(self):
    as_dict = settings.to_dict(config.LotteryConfig(
        pruning=config.PruningConfig(rewind_step=config.Duration(2, "ep"))))
    self.assertEqual(as_dict["pruning"]["rewind_step"], "2ep")
    self.assertEqual(as_dict["recipes"], ["lt"])


if __name__ == "__main__":
  tf.test.main()
