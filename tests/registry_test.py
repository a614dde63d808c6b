"""Tests of the named registry."""

import tensorflow as tf

from kdticket_tf import registry


class RegistryTest(tf.test.TestCase):

  def test_register_get_and_names_in_order(self):
    table = registry.Registry("widget")

    @table.register("b")
    def build_b():
      return "b"

    table.add("a", "entry a")
    self.assertIs(table.get("b"), build_b)
    self.assertEqual(table.get("a"), "entry a")
    self.assertEqual(table.names(), ["b", "a"])

  def test_unknown_name_lists_the_choices(self):
    table = registry.Registry("widget")
    table.add("gear", 1)
    with self.assertRaisesRegex(ValueError,
                                "widget='cog' is unknown; choose one of: gear"):
      table.get("cog")

  def test_duplicate_name_is_refused(self):
    table = registry.Registry("widget")
    table.add("gear", 1)
    with self.assertRaisesRegex(ValueError, "already registered"):
      table.add("gear", 2)


if __name__ == "__main__":
  tf.test.main()
