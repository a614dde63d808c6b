"""Tests of the KD-collapse flag."""

from absl.testing import absltest

from tests import testing  # pylint: disable=unused-import
from kdticket_tf.training import kd_collapse
from kdticket_tf.training import recipes
from kdticket_tf.report import results
from kdticket_tf.config import settings


class KdCollapseTest(absltest.TestCase):

  def test_a_student_at_chance_is_flagged_with_its_remedies(self):
    message = kd_collapse.warning(recipes.get("kd"), 0.1, 10)
    self.assertIn("KD collapse", message)
    flags = settings.in_flag_words(message)
    for remedy in ("--kd_reduction='mean'", "--kd_temperature",
                   "--clip_norm"):
      self.assertIn(remedy, flags)

  def test_learning_students_and_hard_label_recipes_are_not_flagged(self):
    # 22% of 10 classes, as measured in study C's KD selection: collapsed.
    self.assertIsNotNone(kd_collapse.warning(recipes.get("kd"), 0.22, 10))
    self.assertIsNone(kd_collapse.warning(recipes.get("kd"), 0.3, 10))
    self.assertIsNone(kd_collapse.warning(recipes.get("kd"), 0.65, 2))
    self.assertIsNotNone(kd_collapse.warning(recipes.get("kd"), 0.55, 2))
    self.assertIsNone(kd_collapse.warning(recipes.get("lt"), 0.1, 10))
    self.assertIsNone(kd_collapse.warning(recipes.get("kd"), 0.1, 0))

  def test_the_table_marks_the_collapsed_cell(self):
    rows = [{"recipe": "dense", "level": 0, "test_accuracy": 0.9},
            {"recipe": "kd", "level": 1, "test_accuracy": 0.1,
             "weights_remaining": 0.2, "status": "done",
             "warning": kd_collapse.warning(recipes.get("kd"), 0.1, 10)}]
    self.assertIn("10.00 (KD collapse)", results.to_markdown(rows, ("kd",)))


if __name__ == "__main__":
  absltest.main()
