"""Tests of the recipe table."""

import tensorflow as tf

from kdticket_tf.training import recipes


class RecipesTest(tf.test.TestCase):

  def test_table_matches_the_design(self):
    expected = {
        "lt": ("init", "zero", False, "magnitude", False, None),
        "rewind": ("rewind", "rewind", False, "magnitude", False, None),
        "lr_rewind": ("previous", "zero", False, "magnitude", False, None),
        "finetune": ("previous", "zero", True, "magnitude", False, None),
        "kd": ("init", "zero", False, "magnitude", True, None),
        "kd_rewind": ("rewind", "rewind", False, "magnitude", True, None),
        "kd_lr_rewind": ("previous", "zero", False, "magnitude", True, None),
        "kd_finetune": ("previous", "zero", True, "magnitude", True, None),
        "random_reinit": ("reinit", "zero", False, "magnitude", False, "lt"),
        "random_prune": ("init", "zero", False, "random", False, "lt"),
    }
    self.assertEqual(recipes.names(), list(expected))
    for name, fields in expected.items():
      recipe = recipes.get(name)
      self.assertEqual((recipe.start, recipe.schedule_start, recipe.constant_lr,
                        recipe.mask, recipe.distill, recipe.masks_from),
                       fields, name)

  def test_invalid_recipe_fields_raise(self):
    with self.assertRaisesRegex(ValueError, "start='middle'"):
      recipes.Recipe("x", start="middle")


if __name__ == "__main__":
  tf.test.main()
