"""TensorBoard: a real `tensorboard` server reads the run's per-layer sparsity,
lottery curves, per-epoch metrics and HParams through its HTTP data API."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import tensorflow as tf

from kdticket_tf.store import artifacts
from kdticket_tf.store import layout
from kdticket_tf import api
from tests import testing

BIN = os.path.dirname(sys.executable)


def _free_port():
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


class TensorBoardTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = tempfile.mkdtemp(prefix="kdticket_tensorboard_")
    cfg = testing.synthetic_config(("lt", "rewind"), fraction=0.2)
    cls.config = cfg
    cls.rows = api.prepare(cfg, cls.workdir).run()
    cls.port = _free_port()
    cls.server = subprocess.Popen(
        [os.path.join(BIN, "tensorboard"),
         f"--logdir={layout.Layout(cls.workdir).tensorboard}",
         "--host=127.0.0.1", f"--port={cls.port}", "--load_fast=false",
         "--reload_interval=1"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
      try:
        tags = cls._get("/data/plugin/scalars/tags")
        if "summary" in tags and any(
            t.startswith("sparsity/") for t in tags["summary"]):
          break
      except OSError:
        pass
      if time.time() > deadline or cls.server.poll() is not None:
        cls.server.kill()
        raise AssertionError("tensorboard did not come up with the run's data")
      time.sleep(0.5)

  @classmethod
  def tearDownClass(cls):
    cls.server.terminate()
    cls.server.wait(timeout=30)
    super().tearDownClass()

  @classmethod
  def _get(cls, path, body=None):
    url = f"http://127.0.0.1:{cls.port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
      return json.loads(response.read())

  def _scalars(self, run, tag):
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return {step: value for _, step, value in
            self._get(f"/data/plugin/scalars/scalars?{query}")}

  def test_lottery_curve_holds_the_results(self):
    for recipe in ("lt", "rewind"):
      curve = self._scalars("summary", f"lottery/{recipe}/test_accuracy")
      expected = {r["level"]: r["test_accuracy"] for r in self.rows
                  if r["recipe"] in (recipe, "dense")}
      self.assertEqual(sorted(curve), [0, 1, 2])
      for level, value in expected.items():
        self.assertAllClose(curve[level], value, rtol=1e-6)
      by_sparsity = self._scalars("summary",
                                  f"lottery_by_sparsity/{recipe}/test_accuracy")
      self.assertEqual(sorted(by_sparsity), [0, 200, 360])

  def test_per_layer_sparsity_and_threshold_for_each_level(self):
    tags = self._get("/data/plugin/scalars/tags")["summary"]
    for level in (1, 2):
      metrics = artifacts.read_json(os.path.join(
          layout.Layout(self.workdir).stage_dir(layout.StageKey("lt", level)), "metrics.json"))
      for layer, values in metrics["layers"].items():
        self.assertIn(f"sparsity/lt/{layer}", tags)
        sparsity = self._scalars("summary", f"sparsity/lt/{layer}")
        self.assertAllClose(sparsity[level], values["sparsity"], rtol=1e-6)
        threshold = self._scalars("summary", f"threshold/lt/{layer}")
        self.assertAllClose(threshold[level], values["threshold"], rtol=1e-6)

  def test_per_epoch_metrics_of_each_stage(self):
    tags = self._get("/data/plugin/scalars/tags")
    train_run = "lt/level_01/train"
    self.assertIn(train_run, tags)
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_test_accuracy",
                "epoch_learning_rate"):
      self.assertIn(tag, tags[train_run])
    self.assertLen(self._scalars(train_run, "epoch_test_accuracy"), 2)

  def test_hparams_sessions_per_recipe_and_level(self):
    experiment = self._get("/data/plugin/hparams/experiment",
                           {"experimentName": ""})
    names = {h["name"] for h in experiment["hparamInfos"]}
    self.assertTrue({"recipe", "level", "train.learning_rate"} <= names)
    groups = self._get("/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": [
            "STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
            "STATUS_RUNNING"],
        "colParams": [], "startIndex": 0, "sliceSize": 100})
    sessions = {(g["hparams"]["recipe"], int(g["hparams"]["level"]))
                for g in groups["sessionGroups"]}
    self.assertEqual(sessions, {("dense", 0), ("lt", 1), ("lt", 2),
                                ("rewind", 1), ("rewind", 2)})

  def test_config_text_and_plot_written(self):
    self.assertIn("config", self._get("/data/plugin/text/tags")["summary"])
    self.assertTrue(os.path.exists(os.path.join(self.workdir,
                                                "accuracy_vs_sparsity.png")))

  def test_resuming_a_finished_run_writes_no_new_event_files(self):
    def event_files():
      return sorted(os.path.relpath(os.path.join(folder, name), self.workdir)
                    for folder, _, names in os.walk(self.workdir)
                    for name in names if "tfevents" in name)
    before = event_files()
    rows = api.prepare(self.config, self.workdir).run()
    self.assertEqual(event_files(), before)
    self.assertEqual([r["test_accuracy"] for r in rows],
                     [r["test_accuracy"] for r in self.rows])


if __name__ == "__main__":
  tf.test.main()
