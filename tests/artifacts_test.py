"""Tests of atomic writes and checked reads."""

import os

import tensorflow as tf

from kdticket_tf.store import artifacts


class ArtifactsTest(tf.test.TestCase):

  def test_write_json_round_trip_and_no_temporary_left(self):
    path = os.path.join(self.get_temp_dir(), "sub", "a.json")
    artifacts.write_json(path, {"x": [1, 2.5]})
    self.assertEqual(artifacts.read_json(path), {"x": [1, 2.5]})
    self.assertEqual(os.listdir(os.path.dirname(path)), ["a.json"])

  def test_failed_write_keeps_the_old_file(self):
    path = os.path.join(self.get_temp_dir(), "keep.txt")
    artifacts.write_text(path, "old")
    with self.assertRaises(RuntimeError):
      with artifacts.atomic_path(path) as temporary:
        with open(temporary, "w") as stream:
          stream.write("half")
        raise RuntimeError("crash while writing")
    with open(path) as stream:
      self.assertEqual(stream.read(), "old")
    self.assertEqual(os.listdir(self.get_temp_dir()).count("keep.txt"), 1)
    self.assertFalse([n for n in os.listdir(self.get_temp_dir())
                      if n.endswith(".tmp")])

  def test_corrupt_json_names_the_file(self):
    path = os.path.join(self.get_temp_dir(), "bad.json")
    with open(path, "w") as stream:
      stream.write("{not json")
    with self.assertRaisesRegex(ValueError, "bad.json is corrupt"):
      artifacts.read_json(path)


if __name__ == "__main__":
  tf.test.main()
