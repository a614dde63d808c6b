"""docs/structured_tickets.md (study D) is what its committed rows give."""

import json
import os

import tensorflow as tf

from tests import testing

ROOT = testing.ROOT


class StructuredReportTest(testing.ReportDocChecks, tf.test.TestCase):
  TOOL, DOC, TABLE = ("structured_report.py",
                      os.path.join("docs", "structured_tickets.md"), "cost")

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
