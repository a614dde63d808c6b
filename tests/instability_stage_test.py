"""Tests of the instability stage kind: the graph and `rewind_step=auto`."""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests import testing
from kdticket_tf.store import artifacts
from kdticket_tf import config as config_lib
from kdticket_tf.search import graph as graph_lib
from kdticket_tf.instability import interpolation as instability
from kdticket_tf.instability import graph as instability_graph
from kdticket_tf.store import layout as layout_lib
from kdticket_tf import api
from kdticket_tf.config import settings

Duration = config_lib.Duration


def _auto_config(steps, threshold=2.0, recipes=("rewind",)):
  config = testing.tiny_config(recipes, schedule="oneshot", levels=1)
  return dataclasses.replace(
      config,
      pruning=dataclasses.replace(config.pruning, rewind_step=Duration.auto()),
      analysis=config_lib.AnalysisConfig(steps=tuple(steps),
                                         threshold=threshold, points=3))


class GraphTest(tf.test.TestCase):

  def test_auto_puts_the_analysis_before_every_ticket(self):
    graph = graph_lib.build(_auto_config([Duration(0, "it")],
                                         recipes=("lt", "rewind")))
    key = instability_graph.key(0)
    self.assertEqual(graph.keys[:2], (layout_lib.DENSE_KEY, key))
    for stage in graph:
      if stage.key.level and not instability_graph.is_key(stage.key):
        self.assertIn(key, stage.needs)

  def test_analysis_alone_runs_only_what_it_needs(self):
    config = testing.tiny_config(("lt", "rewind"), levels=2)
    alone = dataclasses.replace(config, analysis=config_lib.AnalysisConfig(
        name="instability"))
    self.assertEqual([str(k) for k in graph_lib.build(alone).keys],
                     ["dense", "instability/level_00"])
    ticket = dataclasses.replace(config, analysis=config_lib.AnalysisConfig(
        name="instability", levels=(0, 2)))
    self.assertEqual([str(k) for k in graph_lib.build(ticket).keys],
                     ["dense", "lt/level_01", "lt/level_02",
                      "instability/level_00", "instability/level_02"])
    self.assertEqual(layout_lib.StageKey.parse("instability/level_00"),
                     instability_graph.key(0))

  def test_auto_and_bare_zero_parse_from_flags(self):
    self.assertEqual(Duration.parse("auto", allow_auto=True), Duration.auto())
    self.assertEqual(str(Duration.auto()), "auto")
    self.assertEqual(Duration.parse("0"), Duration(0, "it"))
    with self.assertRaisesRegex(ValueError, "is not a duration"):
      Duration.parse("auto")
    with self.assertRaisesRegex(ValueError, "no number of steps"):
      Duration.auto().to_steps(10)
    config = _auto_config([Duration(0, "it"), Duration(1, "ep")])
    self.assertEqual(settings.from_dict(settings.to_dict(config)), config)


class RewindAutoTest(tf.test.TestCase):

  def test_auto_picks_the_step_the_table_says(self):
    workdir = self.get_temp_dir()
    config = _auto_config([Duration(3, "it"), Duration(1, "ep")],
                          threshold=100.0)
    rows = api.run_lottery(config, workdir, testing.tiny_data(),
                               testing.model_fn)
    self.assertEqual([(r["recipe"], r["level"]) for r in rows],
                     [("dense", 0), ("rewind", 1)])
    layout = layout_lib.Layout(workdir)
    table = artifacts.read_json(layout.instability("json"))["rows"]
    expected = instability.choose_step(table, 100.0)
    choice = artifacts.read_json(layout.rewind_choice)
    self.assertEqual(choice["step"], expected["start_step"])
    self.assertEqual(choice["step"], 3)
    self.assertTrue(os.path.exists(os.path.join(workdir, "rewind_choice.md")))
    with np.load(layout.rewind_weights) as rewound, np.load(
        layout.start_weights(3)) as start:
      for name in rewound.files:
        self.assertAllEqual(rewound[name], start[name])
    # The rewind ticket trained T - k = 16 - 3 steps: one epoch and a part.
    metrics = artifacts.read_json(layout.metrics(layout_lib.StageKey(
        "rewind", 1)))
    self.assertLen(metrics["history"], 2)

  def test_auto_refuses_when_no_step_is_stable_before_any_ticket(self):
    workdir = self.get_temp_dir()
    config = _auto_config([Duration(0, "it")], threshold=0.0)
    original = instability.choose_step
    instability.choose_step = lambda rows, threshold: None
    try:
      with self.assertRaisesRegex(ValueError, "found no stable start step"):
        api.run_lottery(config, workdir, testing.tiny_data(),
                            testing.model_fn)
    finally:
      instability.choose_step = original
    layout = layout_lib.Layout(workdir)
    self.assertTrue(os.path.exists(layout.instability("md")))
    self.assertFalse(os.path.exists(layout.metrics(
        layout_lib.StageKey("rewind", 1))))
    self.assertFalse(os.path.exists(layout.rewind_choice))

  def test_start_steps_after_training_are_refused_before_training(self):
    workdir = self.get_temp_dir()
    config = _auto_config([Duration(40, "ep")])
    with self.assertRaisesRegex(ValueError, "not before the end of training"):
      api.prepare(config, workdir, testing.tiny_data(), testing.model_fn)
    self.assertFalse(os.path.exists(os.path.join(workdir, "dense")))


if __name__ == "__main__":
  absltest.main()
