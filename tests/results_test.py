"""Tests of result rows, CSV and the markdown table."""

import csv
import io
import os

import tensorflow as tf

from kdticket_tf import artifacts
from kdticket_tf import results

ROWS = [
    {"recipe": "rewind", "level": 1, "sparsity": 0.2, "weights_remaining": 0.8,
     "test_accuracy": 0.875, "status": "done"},
    {"recipe": "dense", "level": 0, "sparsity": 0.0, "weights_remaining": 1.0,
     "test_accuracy": 0.9, "status": "done"},
    {"recipe": "lt", "level": 1, "sparsity": 0.2, "weights_remaining": 0.8,
     "test_accuracy": 0.88, "status": "done"},
    {"recipe": "kd", "level": 1, "sparsity": None, "weights_remaining": None,
     "test_accuracy": None, "status": "failed"},
]


class ResultsTest(tf.test.TestCase):

  def test_rows_sorted_by_level_then_recipe_order(self):
    order = [(r["recipe"], r["level"])
             for r in results.sort_rows(ROWS, ("lt", "rewind", "kd"))]
    self.assertEqual(order, [("dense", 0), ("lt", 1), ("rewind", 1), ("kd", 1)])

  def test_markdown_table(self):
    table = results.to_markdown(ROWS, ("lt", "rewind", "kd"))
    self.assertEqual(table.splitlines(), [
        "| level | % weights remaining | lt | rewind | kd |",
        "|---|---|---|---|---|",
        "| 0 (dense) | 100.0 | 90.00 | 90.00 | 90.00 |",
        "| 1 | 80.0 | 88.00 | 87.50 | failed |",
    ])

  def test_write_produces_json_csv_and_markdown(self):
    workdir = self.get_temp_dir()
    results.write(workdir, ROWS, ("lt", "rewind", "kd"))
    self.assertLen(artifacts.read_json(os.path.join(workdir, "results.json")), 4)
    with open(os.path.join(workdir, "results.csv")) as stream:
      rows = list(csv.DictReader(io.StringIO(stream.read())))
    self.assertEqual(rows[0]["recipe"], "dense")
    self.assertEqual(list(rows[0]), list(results.COLUMNS))
    self.assertTrue(os.path.exists(os.path.join(workdir, "results.md")))


if __name__ == "__main__":
  tf.test.main()
