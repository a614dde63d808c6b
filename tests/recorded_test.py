"""Tests of the configuration a workdir records and its check on a rerun."""

import json
import os

import tensorflow as tf

from kdticket_tf.config import recorded
from kdticket_tf.store import layout


class ConfigCheckTest(tf.test.TestCase):

  def _write(self, folder, config):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, layout.CONFIG), "w") as stream:
      json.dump(config, stream)

  def test_result_changing_differences_are_listed(self):
    folder = os.path.join(self.get_temp_dir(), "mismatch")
    before = {"train": {"seed": 0, "learning_rate": 0.1, "verbose": 2},
              "pruning": {"levels": 3}, "recipes": ["lt"]}
    self._write(folder, before)
    new = {"train": {"seed": 1, "learning_rate": 0.2, "verbose": 0},
           "pruning": {"levels": 5}, "recipes": ["lt", "kd"]}
    with self.assertRaisesRegex(
        recorded.ConfigMismatchError,
        r"TrainConfig.learning_rate: 0.1 -> 0.2; TrainConfig.seed: 0 -> 1\); "
        "use another"):
      recorded.check_config(folder, new)

  def test_extending_a_search_is_allowed(self):
    folder = os.path.join(self.get_temp_dir(), "extend")
    self._write(folder, {"train": {"verbose": 2}, "pruning": {"levels": 3},
                         "recipes": ["lt"]})
    found = recorded.check_config(folder, {"train": {"verbose": 0},
                                           "pruning": {"levels": 6},
                                           "recipes": ["lt", "rewind"]})
    self.assertEqual(found, {"train": {"verbose": 2},
                             "pruning": {"levels": 3}, "recipes": ["lt"]})
    self.assertEqual(recorded.differences(found, {
        "train": {"verbose": 0}, "pruning": {"levels": 6},
        "recipes": ["lt", "rewind"]}), [])

  def test_a_setting_added_later_counts_as_its_default(self):
    before = {"pruning": {"fraction": 0.2}}
    defaults = {"pruning": {"fraction": 0.2, "layer_fractions": []}}
    self.assertEqual(recorded.differences(
        before, {"pruning": {"fraction": 0.2, "layer_fractions": []}},
        defaults), [])
    self.assertEqual(recorded.differences(
        before, {"pruning": {"fraction": 0.2,
                             "layer_fractions": [["logits", 0.1]]}},
        defaults),
                     [("pruning.layer_fractions", [], [["logits", 0.1]])])

  def test_read_config_refuses_a_folder_without_a_run(self):
    with self.assertRaisesRegex(ValueError, "holds no config.json"):
      recorded.read_config(self.get_temp_dir())


if __name__ == "__main__":
  tf.test.main()
