"""BUILD is what tools/update_build.py writes from the source tree."""

import os
import shutil
import subprocess
import sys

import tensorflow as tf

# Under `bazel test` the files are symlinks into the source tree: follow BUILD's.
ROOT = os.path.dirname(os.path.realpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "BUILD")))


def _check(root):
  return subprocess.run(
      [sys.executable, os.path.join(root, "tools", "update_build.py"),
       "--check"], capture_output=True, text=True, timeout=120, check=False)


class BuildFileTest(tf.test.TestCase):

  def test_build_is_up_to_date(self):
    result = _check(ROOT)
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_a_new_module_or_import_makes_it_out_of_date(self):
    copy = os.path.join(self.get_temp_dir(), "tree")
    for part in ("kdticket_tf", "tests", "tools"):
      shutil.copytree(os.path.join(ROOT, part), os.path.join(copy, part),
                      ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "BUILD"), copy)
    self.assertEqual(_check(copy).returncode, 0)
    module = os.path.join(copy, "kdticket_tf", "new_module.py")
    with open(module, "w") as stream:
      stream.write('"""A module nobody listed."""\n')
    result = _check(copy)
    self.assertEqual(result.returncode, 1)
    self.assertIn("BUILD is out of date", result.stderr)
    subprocess.run([sys.executable, os.path.join(copy, "tools",
                                                 "update_build.py")],
                   check=True, capture_output=True)
    with open(os.path.join(copy, "BUILD")) as stream:
      self.assertIn('srcs = ["kdticket_tf/new_module.py"]', stream.read())
    with open(module, "a") as stream:  # a new import is a new dependency
      stream.write("from kdticket_tf.search import graph\n")
    self.assertEqual(_check(copy).returncode, 1)


if __name__ == "__main__":
  tf.test.main()
