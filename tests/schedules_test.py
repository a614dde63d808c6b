"""Tests of the learning-rate schedules, offsets included."""

import math

import tensorflow as tf
from absl.testing import parameterized

from kdticket_tf.training import schedules


class LotteryScheduleTest(tf.test.TestCase, parameterized.TestCase):

  def test_step_schedule_values(self):
    schedule = schedules.LotterySchedule(0.1, "step", total_steps=300,
                                         milestones=(100, 200), decay=0.1)
    self.assertAllClose([schedule.value(s) for s in (0, 99, 100, 199, 200, 299)],
                        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])

  def test_cosine_schedule_values(self):
    schedule = schedules.LotterySchedule(1.0, "cosine", total_steps=100)
    self.assertAllClose(schedule.value(0), 1.0)
    self.assertAllClose(schedule.value(50), 0.5)
    self.assertAllClose(schedule.value(25), 0.5 * (1 + math.cos(math.pi / 4)))
    self.assertAllClose(schedule.value(100), 0.0, atol=1e-7)

  def test_linear_warmup(self):
    schedule = schedules.LotterySchedule(0.4, "step", total_steps=100,
                                         milestones=(50,), warmup_steps=4)
    self.assertAllClose([schedule.value(s) for s in range(6)],
                        [0.1, 0.2, 0.3, 0.4, 0.4, 0.4])

  @parameterized.parameters("constant", "step", "cosine")
  def test_offset_starts_the_schedule_at_step_k(self, kind):
    full = schedules.LotterySchedule(0.1, kind, total_steps=400,
                                     milestones=(150, 300), warmup_steps=20)
    rewound = schedules.LotterySchedule(0.1, kind, total_steps=400,
                                        milestones=(150, 300), warmup_steps=20,
                                        offset=140)
    for step in (0, 5, 9, 10, 11, 159, 160, 259):
      self.assertAllClose(rewound.value(step), full.value(step + 140))

  def test_same_value_inside_tf_function(self):
    schedule = schedules.LotterySchedule(0.1, "cosine", total_steps=100,
                                         offset=7)
    compiled = tf.function(schedule)
    for step in (0, 13, 92):
      self.assertAllClose(compiled(tf.constant(step)), schedule.value(step))

  def test_unknown_kind_raises(self):
    with self.assertRaisesRegex(ValueError, "kind='linear'"):
      schedules.LotterySchedule(0.1, "linear")


if __name__ == "__main__":
  tf.test.main()
