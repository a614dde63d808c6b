"""Tests of result rows, CSV and the markdown table."""

import csv
import io
import os

import tensorflow as tf

from kdticket_tf.store import artifacts
from kdticket_tf.store import layout
from kdticket_tf.report import results

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

  def test_a_latency_cell_gives_microseconds_and_the_ratio_or_a_dash(self):
    self.assertEqual(results.latency_cell(
        {"seconds": 9.71e-6, "ratio_to_dense": 0.3251}, " µs"),
                     "9.7 µs (0.33)")
    self.assertEqual(results.latency_cell(
        {"seconds": 4e-6, "ratio_to_dense": None}), "4.0 (–)")
    self.assertEqual(results.latency_cell(
        {"seconds": None, "ratio_to_dense": None}), "–")
    self.assertEqual(results.latency_cell(None), "–")

  def test_a_level_whose_only_row_failed_without_masks_has_no_sparsity(self):
    rows = ROWS + [{"recipe": "lt", "level": 2, "sparsity": None,
                    "weights_remaining": None, "test_accuracy": None,
                    "status": "failed"}]
    self.assertIn("| 2 |  | failed |  |  |",
                  results.to_markdown(rows, ("lt", "rewind", "kd")))

  def test_the_epoch_is_chosen_on_validation_never_on_test(self):
    history = [
        {"epoch": 1, "validation_accuracy": 0.80, "test_accuracy": 0.95},
        {"epoch": 2, "validation_accuracy": 0.85, "test_accuracy": 0.81},
        {"epoch": 3, "validation_accuracy": 0.85, "test_accuracy": 0.90},
        {"epoch": 4, "validation_accuracy": 0.83, "test_accuracy": 0.99},
    ]
    # Epoch 2: best validation (the earliest of the tie), whatever the test says.
    self.assertEqual(results.selected_on_validation(history),
                     {"best_validation_epoch": 2,
                      "test_accuracy_at_best_validation": 0.81})
    self.assertEqual(
        results.selected_on_validation([{"epoch": 1, "test_accuracy": 0.9}]),
        {"best_validation_epoch": None,
         "test_accuracy_at_best_validation": None})

  def test_rows_sorted_by_level_then_recipe_order(self):
    order = [(r["recipe"], r["level"])
             for r in results.sort_rows(ROWS, ("lt", "rewind", "kd"))]
    self.assertEqual(order, [("dense", 0), ("lt", 1), ("rewind", 1), ("kd", 1)])

  def test_recipe_order_is_first_appearance_over_runs_without_dense(self):
    runs = [[{"recipe": "dense", "level": 0}, {"recipe": "kd", "level": 1},
             {"recipe": "lt", "level": 1}],
            [{"recipe": "lt", "level": 2}, {"recipe": "rewind", "level": 1}]]
    self.assertEqual(results.recipe_order(runs), ["kd", "lt", "rewind"])

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
    results.write(layout.Layout(workdir), ROWS, ("lt", "rewind", "kd"))
    self.assertLen(artifacts.read_json(os.path.join(workdir, "results.json")), 4)
    with open(os.path.join(workdir, "results.csv")) as stream:
      rows = list(csv.DictReader(io.StringIO(stream.read())))
    self.assertEqual(rows[0]["recipe"], "dense")
    self.assertEqual(list(rows[0]), list(results.COLUMNS))
    self.assertTrue(os.path.exists(os.path.join(workdir, "results.md")))

  def test_mean_std_is_in_percent_with_the_sample_spread(self):
    self.assertEqual(results.mean_std([0.5, 0.7, None]), "60.00 ± 14.14 (2)")
    self.assertEqual(results.mean_std([-0.012], signed=True),
                     "-1.20 ± 0.00 (1)")
    self.assertEqual(results.mean_std([0.01, 0.03], signed=True),
                     "+2.00 ± 1.41 (2)")
    self.assertEqual(results.mean_std([None]), "")

  def test_marked_tables_are_replaced_and_the_rest_kept(self):
    text = ("intro\n<!-- table:a -->\nold a\n<!-- /table -->\nmiddle\n"
            "<!-- table:b -->\nold b\n<!-- /table -->\n")
    self.assertEqual(results.marked_tables(text), {"a", "b"})
    self.assertEqual(
        results.update_marked_tables(text, {"a": "new a\n", "c": "x\n"}),
        "intro\n<!-- table:a -->\nnew a\n<!-- /table -->\nmiddle\n"
        "<!-- table:b -->\nold b\n<!-- /table -->\n")


if __name__ == "__main__":
  tf.test.main()
