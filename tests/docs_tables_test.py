"""A doc's hand-pasted table is what its command makes from its committed rows.

docs/fashion_mnist_lenet_compare.md shows `python tools/results_table.py
docs/fashion_mnist_lenet_compare.json`'s table of the run's committed rows.
"""

import os
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARE = os.path.join("docs", "fashion_mnist_lenet_compare")


def _table_lines(text):
  """The lines of the first Markdown table in `text`."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith("|"))
  end = next((i for i in range(start, len(lines))
              if not lines[i].startswith("|")), len(lines))
  return lines[start:end]


class FashionMnistCompareTableTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    with open(os.path.join(ROOT, f"{COMPARE}.md"), encoding="utf-8") as stream:
      self.doc = stream.read()

  def test_the_doc_says_which_command_made_its_table(self):
    self.assertIn(f"python tools/results_table.py {COMPARE}.json", self.doc)

  def test_regenerating_the_table_gives_the_committed_one(self):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "results_table.py"),
         f"{COMPARE}.json"], cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    self.assertEqual(result.returncode, 0, result.stderr)
    heading = "## Test accuracy at the end of training (%)\n\n"
    self.assertIn(heading, self.doc)
    committed = _table_lines(self.doc.split(heading, 1)[1])
    self.assertEqual(_table_lines(result.stdout), committed)
    # Hand-checked cells of the rows: the dense run, and lr_rewind and kd at
    # the last level (1.7% of the weights).
    self.assertEqual(committed[2], "| 0 (dense) | 100.0 | 88.06 | 88.06 | "
                     "88.06 | 88.06 | 88.06 |")
    self.assertEqual(committed[-1], "| 8 | 1.7 | 88.35 | 88.44 | 85.75 | "
                     "86.70 | 86.65 |")
    self.assertLen(committed, 2 + 9)  # header, rule, dense and 8 levels


if __name__ == "__main__":
  tf.test.main()
