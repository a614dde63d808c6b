"""The BUILD file lists every module, test and tool, and names no missing file."""

import glob
import os
import re
import shutil

import tensorflow as tf

# Under `bazel test` the files are symlinks into the source tree: follow BUILD's.
ROOT = os.path.dirname(os.path.realpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "BUILD")))


def build_problems(root):
  """Returns sentences naming files BUILD misses and files it names but lacks."""
  with open(os.path.join(root, "BUILD"), encoding="utf-8") as stream:
    text = stream.read()
  named = set(re.findall(r'"((?:kdticket_tf|tests|tools)/[\w/]+\.py)"', text))
  present = set()
  for pattern in ("kdticket_tf/**/*.py", "tests/*_test.py", "tests/__init__.py",
                  "tools/*.py"):
    present.update(os.path.relpath(p, root) for p in
                   glob.glob(os.path.join(root, pattern), recursive=True))
  problems = [f"{path} is not listed in BUILD" for path in sorted(present - named)]
  problems += [f"BUILD names {path}, which does not exist"
               for path in sorted(named - present)]
  for test in sorted(p for p in present if p.endswith("_test.py")):
    name = os.path.basename(test)[:-3]
    if not re.search(rf'py_test\(\s*name = "{name}",\s*size = "\w+"', text):
      problems.append(f"{test} has no py_test with a size in BUILD")
  return problems


class BuildFileTest(tf.test.TestCase):

  def test_build_lists_every_module_test_and_tool(self):
    self.assertEqual(build_problems(ROOT), [])

  def test_an_unlisted_module_and_a_missing_file_are_caught(self):
    copy = os.path.join(self.get_temp_dir(), "tree")
    for part in ("kdticket_tf", "tests", "tools"):
      shutil.copytree(os.path.join(ROOT, part), os.path.join(copy, part),
                      ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "BUILD"), copy)
    self.assertEqual(build_problems(copy), [])
    with open(os.path.join(copy, "kdticket_tf", "new_module.py"), "w") as f:
      f.write('"""A module nobody listed."""\n')
    os.remove(os.path.join(copy, "tools", "results_table.py"))
    self.assertEqual(build_problems(copy), [
        "kdticket_tf/new_module.py is not listed in BUILD",
        "BUILD names tools/results_table.py, which does not exist"])


if __name__ == "__main__":
  tf.test.main()
