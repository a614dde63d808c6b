"""Tests of the CPU-speed probe and the full-speed classification."""

from absl.testing import absltest
import numpy as np

from kdticket_tf import cpu_speed


class CpuSpeedTest(absltest.TestCase):

  def test_probe_is_the_fastest_of_its_repeats_and_positive(self):
    found = [cpu_speed.probe(repeats=1) for _ in range(5)]
    self.assertGreater(min(found), 0.0)
    # The fastest of 20 runs is no slower than the slowest single run.
    self.assertLessEqual(cpu_speed.probe(repeats=20), max(found))

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
