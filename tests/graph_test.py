"""The stage graph: dependencies of each schedule and recipe, readiness, waves;
the stage keys and exported folders read back from their paths."""

import os
import subprocess
import sys

import tensorflow as tf

from kdticket_tf import config
from kdticket_tf.search import graph
from kdticket_tf.store import layout
from tests import testing

DENSE = layout.DENSE_KEY
Key = layout.StageKey


def _graph(recipes, schedule="iterative", levels=3, teacher="dense"):
  return graph.build(config.LotteryConfig(
      recipes=tuple(recipes),
      pruning=config.PruningConfig(schedule=schedule, levels=levels),
      distill=config.DistillConfig(teacher=teacher)))


class GraphTest(tf.test.TestCase):

  def test_iterative_lineages_are_chains_beside_the_dense_run(self):
    found = _graph(("lt", "rewind", "lr_rewind"))
    self.assertEqual(found.keys[:4], (DENSE, Key("lt", 1), Key("rewind", 1),
                                      Key("lr_rewind", 1)))
    self.assertEqual(set(found[Key("lt", 3)].dependencies),
                     {DENSE, Key("lt", 2)})  # θ0; masks and ranked weights
    self.assertEqual(found[Key("lr_rewind", 3)].dependencies,
                     (Key("lr_rewind", 2),))  # masks and start weights
    self.assertEqual(found[Key("lr_rewind", 1)].needs,
                     {DENSE: "ranked weights θT, start weights θT"})
    self.assertEqual(found.widths(), [1, 3, 3, 3])
    self.assertEqual(found.critical_path(lambda key: 1.0), 4.0)

  def test_oneshot_stages_need_only_the_dense_run(self):
    found = _graph(("lt", "rewind", "lr_rewind", "kd"), "oneshot", levels=4)
    for stage in list(found)[1:]:
      self.assertEqual(stage.dependencies, (DENSE,), str(stage.key))
    self.assertEqual(found.widths(), [1, 16])
    self.assertLen(found.ready([DENSE]), 16)

  def test_branches_and_previous_level_teachers(self):
    found = _graph(("lt", "random_reinit", "kd"), levels=2,
                   teacher="previous_level")
    self.assertEqual(found[Key("random_reinit", 2)].needs,
                     {Key("lt", 2): "masks"})
    self.assertEqual(found[Key("kd", 2)].needs,
                     {DENSE: "start weights θ0",
                      Key("kd", 1): "masks, ranked weights, teacher"})
    self.assertEqual(found[Key("kd", 1)].needs,
                     {DENSE: "start weights θ0, ranked weights θT, teacher"})

  def test_ready_stages_and_the_dependents_of_a_failure(self):
    found = _graph(("lt", "random_reinit", "rewind"), levels=2)
    self.assertEqual(found.ready([]), [DENSE])
    self.assertEqual(found.ready([DENSE]), [Key("lt", 1), Key("rewind", 1)])
    self.assertEqual(found.ready([DENSE, Key("lt", 1)], [Key("rewind", 1)]),
                     [Key("random_reinit", 1), Key("lt", 2)])
    self.assertEqual(found.dependents(Key("lt", 1)),
                     [Key("random_reinit", 1), Key("lt", 2),
                      Key("random_reinit", 2)])
    self.assertEqual(found.dependents(Key("rewind", 2)), [])

  def test_a_branch_listed_before_its_source_runs_after_it(self):
    found = _graph(("random_reinit", "lt"), levels=1)
    self.assertEqual(found.ready([DENSE]), [Key("lt", 1)])
    self.assertEqual(found.critical_path(lambda key: 2.0), 6.0)

  def test_wall_time_on_several_workers(self):
    found = _graph(("lt", "rewind"), "oneshot", levels=4)  # dense + 8
    one = lambda key: 1.0
    self.assertEqual(found.wall_time(one, 1), 9.0)
    self.assertEqual(found.wall_time(one, 8), 2.0)
    self.assertEqual(found.wall_time(one, 3), 4.0)  # 1 + ceil(8 / 3)
    chains = _graph(("lt", "rewind"), levels=4)  # two chains of 4
    self.assertEqual(chains.wall_time(one, 8), 5.0)
    self.assertEqual(chains.critical_path(one), 5.0)

  def test_search_graph_tool_on_the_paper_cifar_flagfile(self):
    result = subprocess.run(
        [sys.executable, "tools/search_graph.py",
         "--flagfile=configs/cifar10_resnet56_kd.flags", "--workers=8",
         "--steps_per_epoch=351", "--training_hours=1"],
        cwd=testing.ROOT, env=dict(os.environ, PYTHONPATH=testing.ROOT),
        capture_output=True, text=True, timeout=120, check=False)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertIn("stages: 65; at once, by depth: 1, 64", result.stdout)
    # The dense run, then 8 waves of 8 stages (rewound ones 0.97 of a run).
    self.assertIn("8 workers: 8.91 h", result.stdout)

  def test_keys_read_back_from_their_text(self):
    for key in (DENSE, Key("kd_lr_rewind", 12)):
      self.assertEqual(layout.StageKey.parse(str(key)), key)
    self.assertEqual(str(Key("lt", 3)), "lt/level_03")

  def test_exported_folders_read_back_as_workdir_model_and_version(self):
    workdir = os.path.join("runs", "seed_0")
    paths = layout.Layout(workdir)
    for folder, expected in (
        (paths.serving_path(Key("lt", 3)), (workdir, "lt", 3)),
        (paths.serving_path(DENSE), (workdir, "dense", 0)),
        (paths.compact_serving_path(Key("kd", 12)) + os.sep,
         (workdir, "kd_compact", 12)),
        (os.path.join("export", "serving", "lt", "1"), ("", "lt", 1)),
        (os.path.join(os.sep, "w", "export", "serving", "lt", "1"),
         (os.path.join(os.sep, "w"), "lt", 1))):
      self.assertEqual(layout.parse_serving_path(folder), expected)
    for folder in (paths.stage_dir(Key("lt", 3)), paths.tflite(Key("lt", 3)),
                   os.path.join(workdir, "export", "serving", "lt"),
                   os.path.join(workdir, "export", "serving", "lt", "latest"),
                   # Versions serving_path never writes: zero-padded, or in
                   # digits other than 0-9 (Arabic-Indic 1).
                   os.path.join(workdir, "export", "serving", "lt", "01"),
                   os.path.join(workdir, "export", "serving", "lt", "\u0661"),
                   os.path.join("serving", "lt", "1")):
      self.assertIsNone(layout.parse_serving_path(folder), folder)


if __name__ == "__main__":
  tf.test.main()
