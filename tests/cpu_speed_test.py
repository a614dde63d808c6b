"""Tests of the CPU-speed probe and the full-speed classification."""

from unittest import mock

from absl.testing import absltest
import numpy as np

from kdticket_tf.report import cpu_speed


class CpuSpeedTest(absltest.TestCase):

  def test_probe_is_the_fastest_of_its_repeats_and_positive(self):
    self.assertGreater(cpu_speed.probe(repeats=1), 0.0)
    # Runs of 3, 1 and 2 seconds, on a clock the test controls (the machine's
    # own speed may change between two real probes).
    ticks = iter([10.0, 13.0, 20.0, 21.0, 30.0, 32.0])
    with mock.patch.object(cpu_speed.time, "perf_counter",
                           lambda: next(ticks)):
      self.assertEqual(cpu_speed.probe(repeats=3), 1.0)

  def test_timings_whose_probes_are_near_the_fastest_are_at_full_speed(self):
    probes = [(1.0, 1.1), (1.7, 1.8), (1.0, 1.7), (1.2, 1.0)]
    np.testing.assert_array_equal(cpu_speed.at_full_speed(probes),
                                  [True, False, False, True])

  def test_the_run_s_fastest_probe_can_be_given(self):
    # Against a fastest of 0.5 from other timings, none of these is fast.
    np.testing.assert_array_equal(
        cpu_speed.at_full_speed([(1.0, 1.0), (1.2, 1.1)], fastest=0.5),
        [False, False])
    np.testing.assert_array_equal(
        cpu_speed.at_full_speed([1.0, 1.3, 1.24], tolerance=1.25),
        [True, False, True])

  def test_no_timings_gives_an_empty_mask(self):
    self.assertEqual(cpu_speed.at_full_speed(np.zeros([0, 2])).shape, (0,))


if __name__ == "__main__":
  absltest.main()
