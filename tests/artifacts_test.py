"""Tests of atomic writes and checked reads."""

import errno
import os
import pickle
from unittest import mock

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

  def test_a_full_disk_names_the_file_and_keeps_the_old_one(self):
    path = os.path.join(self.get_temp_dir(), "full", "final.weights.npz")
    artifacts.write_text(path, "old")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with mock.patch.object(artifacts.os, "replace", side_effect=full):
      with self.assertRaises(artifacts.WriteError) as raised:
        artifacts.write_text(path, "new")
    self.assertEqual(
        str(raised.exception),
        f"Could not write {path}: [Errno 28] No space left on device; free "
        "space and rerun to resume.")
    self.assertEqual(str(raised.exception.for_stage("kd/level_02")),
                     f"Could not write {path} for stage kd/level_02: [Errno "
                     "28] No space left on device; free space and rerun to "
                     "resume.")
    self.assertEqual(raised.exception.errno, errno.ENOSPC)
    self.assertEqual(raised.exception.filename, path)
    with open(path) as stream:
      self.assertEqual(stream.read(), "old")
    self.assertEqual(os.listdir(os.path.dirname(path)), ["final.weights.npz"])

  def test_tensorflow_s_write_errors_name_the_file_others_pass(self):
    path = os.path.join(self.get_temp_dir(), "ckpt-3")
    with self.assertRaisesRegex(
        artifacts.WriteError,
        f"^Could not write {path}: \\[Errno 28\\] No space left on device; "
        "free space"):
      with artifacts.writing(path):
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{path}_temp/part-0; No space left on device")
    with self.assertRaisesRegex(artifacts.WriteError, "make its folder "
                                "writable and rerun to resume"):
      with artifacts.writing(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    with self.assertRaises(tf.errors.ResourceExhaustedError):  # out of memory
      with artifacts.writing(path):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM")

  def test_a_write_error_crosses_processes_whole(self):
    error = artifacts.WriteError(errno.ENOSPC, "No space left on device",
                                 "/w/x.npz", "lt/level_01")
    copy = pickle.loads(pickle.dumps(error))
    self.assertEqual(str(copy), str(error))
    self.assertEqual((copy.errno, copy.filename, copy.stage),
                     (errno.ENOSPC, "/w/x.npz", "lt/level_01"))


if __name__ == "__main__":
  tf.test.main()
