"""Tests of the recipe table."""

import tensorflow as tf

from kdticket_tf import recipes


class RecipesTest(tf.test.TestCase):

  def test_table_matches_the_design(self):
    expected = {
        "lt": ("init", "zero", False, "magnitude", False),
        "rewind": ("rewind", "rewind", False, "magnitude", False),
        "lr_rewind": ("previous", "zero", False, "magnitude", False),
        "finetune": ("previous", "zero", True, "magnitude", False),
        "kd": ("init", "zero", False, "magnitude", True),
        "kd_rewind": ("rewind", "rewind", False, "magnitude", True),
        "kd_lr_rewind": ("previous", "zero", False, "magnitude", True),
        "random_reinit": ("reinit", "zero", False, "magnitude", False),
        "random_prune": ("init", "zero", False, "random", False),
    }
    self.assertEqual(recipes.names(), list(expected))
    for name, fields in expected.items():
      recipe = recipes.get(name)
      self.assertEqual((recipe.start, recipe.schedule_start, recipe.constant_lr,
                        recipe.mask, recipe.distill), fields, name)

  def test_invalid_recipe_fields_raise(self):
    with self.assertRaisesRegex(ValueError, "start='middle'"):
      recipes.Recipe("x", start="middle")


if __name__ == "__main__":
  tf.test.main()
