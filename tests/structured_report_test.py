"""docs/structured_tickets.md (study D) is what its committed rows give."""

import json
import os
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "structured_tickets.md")


def _tool(*args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "tools", "structured_report.py"),
       *args], cwd=ROOT, capture_output=True, text=True, check=False,
      timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))


class StructuredReportTest(tf.test.TestCase):

  def test_the_doc_is_up_to_date_with_its_rows(self):
    result = _tool("--check")
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_a_table_edited_by_hand_is_caught(self):
    with open(DOC, encoding="utf-8") as stream:
      text = stream.read()
    marker = "<!-- table:cost -->\n"
    self.assertIn(marker, text)
    path = os.path.join(self.get_temp_dir(), "structured.md")
    with open(path, "w", encoding="utf-8") as stream:
      stream.write(text.replace(marker, marker + "| 80 | lt | 99.99 |\n", 1))
    result = _tool("--check", f"--doc={path}")
    self.assertEqual(result.returncode, 1)
    self.assertIn("out of date", result.stderr)

  def test_every_committed_row_is_a_study_d_run(self):
    folder = os.path.join(ROOT, "docs", "structured_tickets")
    for arm, structure in (("unstructured", "unstructured"), ("1x4", "1x4"),
                           ("2of4", "2:4")):
      for name in os.listdir(os.path.join(folder, arm)) if os.path.isdir(
          os.path.join(folder, arm)) else ():
        with open(os.path.join(folder, arm, name), encoding="utf-8") as stream:
          rows = json.load(stream)
        for row in rows:
          if row["level"]:
            self.assertEqual(row["structure"], structure, (arm, name))


if __name__ == "__main__":
  tf.test.main()
