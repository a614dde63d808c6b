"""Tests of the median timer of the benchmarks."""

from unittest import mock

from absl.testing import absltest

from kdticket_tf.report import timing

CALL = 2.0**-13  # seconds a call takes on the test's clock (about 122 µs)


class FakeClock:
  """A clock that a call advances by the seconds it is told to take."""

  def __init__(self, durations):
    self.now = 100.0
    self.calls = 0
    self._durations = durations

  def perf_counter(self):
    return self.now

  def call(self):
    self.now += self._durations(self.calls)
    self.calls += 1


class MedianTimerTest(absltest.TestCase):

  def timed(self, clock, seconds):
    with mock.patch.object(timing.time, "perf_counter", clock.perf_counter):
      timed = timing.median_timer(clock.call, seconds)
      return timed()

  def test_a_steady_call_is_timed_exactly(self):
    clock = FakeClock(lambda _: CALL)
    self.assertAlmostEqual(self.timed(clock, 0.01), CALL, delta=1e-12)

  def test_a_preempted_group_is_left_out(self):
    # The 60th call is preempted for 50 ms: the mean call of the run grows
    # tenfold, the median of the groups not at all.
    clock = FakeClock(lambda n: 0.05 if n == 60 else CALL)
    self.assertAlmostEqual(self.timed(clock, 0.01), CALL, delta=1e-12)

  def test_groups_last_about_half_a_millisecond_and_there_are_five_or_more(
      self):
    clock = FakeClock(lambda _: CALL)
    with mock.patch.object(timing.time, "perf_counter", clock.perf_counter):
      timed = timing.median_timer(clock.call, 0.0)
      before = clock.calls
      timed()
    # 4 calls of 122 µs make a group of about 0.5 ms; 0 s asks for the
    # fewest groups, 5.
    self.assertEqual(clock.calls - before, 5 * 4)


class ProbedTest(absltest.TestCase):

  def test_a_timing_is_given_with_the_probes_around_it_and_its_cpu_time(self):
    events = []
    probes = iter([0.5, 0.7])

    def probe():
      events.append("probe")
      return next(probes)

    def timed():
      events.append("timed")
      return 0.25

    with mock.patch.object(timing.cpu_speed, "probe", probe), \
        mock.patch.object(timing.time, "process_time",
                          side_effect=[10.0, 13.0]), \
        mock.patch.object(timing.time, "perf_counter",
                          side_effect=[1.0, 3.0]):
      seconds, around, busy = timing.probed(timed)
    self.assertEqual(events, ["probe", "timed", "probe"])
    self.assertEqual((seconds, around, busy), (0.25, (0.5, 0.7), 1.5))


class InterleavedTest(absltest.TestCase):

  def test_each_round_times_every_timer_in_turn(self):
    order = []

    def timer(key, seconds):
      def timed():
        order.append(key)
        return seconds
      return timed

    with mock.patch.object(timing, "probed",
                           lambda timed: (timed(), (1.0, 2.0), 0.9)):
      times, probes, busy = timing.interleaved(
          {"a": timer("a", 0.5), "b": timer("b", 0.25)}, rounds=3)
    self.assertEqual(order, ["a", "b"] * 3)
    self.assertEqual(times, {"a": [0.5] * 3, "b": [0.25] * 3})
    self.assertEqual(probes["b"], [(1.0, 2.0)] * 3)
    self.assertEqual(busy["a"], [0.9] * 3)


if __name__ == "__main__":
  absltest.main()
