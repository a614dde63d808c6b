"""The study docs' prose numbers and tables stand on their committed rows.

`tools/study_report.py --check` (docs/kd_ticket_study.md) and
`tools/structured_report.py --check` (docs/structured_tickets.md) fail when a
table or a number the prose states is not what the rows give, and when rows a
doc is made from are missing.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import tensorflow as tf

from kdticket_tf.report import results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import prose_claims  # pylint: disable=g-import-not-at-top,wrong-import-position
# pylint: disable-next=g-import-not-at-top,wrong-import-position
import structured_claims
import study_claims  # pylint: disable=g-import-not-at-top,wrong-import-position


def _rows(*path):
  """The committed runs matching `docs/<path>`, in file order."""
  return [results.read(p)
          for p in sorted(glob.glob(os.path.join(DOCS, *path)))]


def _tool(name, *args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "tools", name), *args], cwd=ROOT,
      capture_output=True, text=True, check=False, timeout=120,
      env=dict(os.environ, PYTHONPATH=ROOT))


class ProseClaimsTest(tf.test.TestCase):

  def test_numbers_are_rendered_as_the_prose_writes_them(self):
    # lt - rewind at 99.5% of study A, seeds 0-2, by hand: mean -0.51,
    # sample std 0.34.
    values = [83.65 - 83.99, 83.35 - 84.25, 82.97 - 83.26]
    self.assertEqual(prose_claims.spread(values), "\u22120.51 ± 0.34")
    self.assertEqual(prose_claims.below(values), "0.51 ± 0.34")
    self.assertEqual(prose_claims.below([0.2, 0.4]), "\u22120.30 ± 0.14")
    self.assertEqual(prose_claims.each([-2.5, -4.9, 4.1]),
                     "\u22122.5, \u22124.9 and +4.1")
    self.assertEqual(prose_claims.seeds_below(values), "all three seeds")
    self.assertEqual(prose_claims.seeds_above([0.1, -0.2, 0.3]),
                     "2 of 3 seeds")
    self.assertTrue(prose_claims.within_spread([0.1, -0.2, 0.3]))
    self.assertFalse(prose_claims.within_spread(values))

  def test_unmet_names_a_missing_fragment_and_an_unsupported_one(self):
    text = "KD ends 0.39 ± 0.29\n  points below `rewind` in every seed."
    claims = [prose_claims.Claim("0.39 ± 0.29 points below `rewind`"),
              prose_claims.Claim("0.40 ± 0.29 points below"),
              prose_claims.Claim("in every seed", holds=False)]
    messages = prose_claims.unmet(text, claims)
    self.assertLen(messages, 2)
    self.assertIn("does not say", messages[0])
    self.assertIn("0.40 ± 0.29 points below", messages[0])
    self.assertIn("no longer support", messages[1])


class StudyFiguresTest(tf.test.TestCase):
  """Figures of the committed rows, checked by hand against the rows."""

  def test_random_reinit_against_lt_at_99_5_percent(self):
    runs = study_claims.Runs(_rows("kd_ticket_study", "study_a",
                                   "seed_*.json"))
    reinit, lt = runs.accuracy("random_reinit", 6), runs.accuracy("lt", 6)
    self.assertAllClose(reinit, [83.46, 84.05, 82.99], atol=5e-3)
    self.assertAllClose(lt, [83.65, 83.35, 82.97], atol=5e-3)
    difference = runs.minus("random_reinit", "lt", 6)
    self.assertEqual(prose_claims.spread(difference), "+0.18 ± 0.47")
    self.assertEqual(prose_claims.seeds_above(difference), "2 of 3 seeds")

  def test_structured_rewind_at_80_percent_gains_in_every_seed(self):
    arms = structured_claims.Arms({
        arm: dict(enumerate(_rows("structured_tickets", arm, "seed_*.json")))
        for arm in ("unstructured", "1x4")})
    cost = arms.cost("rewind", 0.8)
    self.assertAllClose(cost, [0.28, 0.33, 0.39], atol=0.006)
    self.assertEqual(prose_claims.spread(cost), "+0.33 ± 0.06")
    self.assertFalse(prose_claims.within_spread(cost))


class StudyReportCheckTest(tf.test.TestCase):

  def _copy(self):
    """A copy of docs/ with the study rows; returns its folder."""
    folder = os.path.join(self.get_temp_dir(), self._testMethodName)
    for name in ("kd_ticket_study", "instability_screen",
                 "structured_tickets"):
      shutil.copytree(os.path.join(DOCS, name), os.path.join(folder, name))
    for name in ("kd_ticket_study.md", "structured_tickets.md"):
      shutil.copy(os.path.join(DOCS, name), folder)
    return folder

  def _study(self, folder, *args):
    return _tool("study_report.py", "--check",
                 f"--rows={os.path.join(folder, 'kd_ticket_study')}",
                 f"--doc={os.path.join(folder, 'kd_ticket_study.md')}", *args)

  def _structured(self, folder):
    return _tool("structured_report.py", "--check",
                 f"--rows={os.path.join(folder, 'structured_tickets')}",
                 f"--doc={os.path.join(folder, 'structured_tickets.md')}")

  def test_the_committed_docs_pass(self):
    for name in ("study_report.py", "structured_report.py"):
      result = _tool(name, "--check")
      self.assertEqual(result.returncode, 0, result.stderr)

  def test_a_vanished_study_fails_naming_its_rows(self):
    folder = self._copy()
    self.assertEqual(self._study(folder).returncode, 0)
    rows = os.path.join(folder, "kd_ticket_study", "study_c")
    for name in os.listdir(rows):
      if name.startswith("seed_"):
        os.remove(os.path.join(rows, name))
    result = self._study(folder)
    self.assertEqual(result.returncode, 1)
    self.assertIn(os.path.join(rows, "seed_*.json"), result.stderr)
    self.assertIn("missing", result.stderr)
    self.assertLen(result.stderr.strip().splitlines(), 1)

  def test_a_vanished_arm_or_benchmark_fails_naming_it(self):
    folder = self._copy()
    rows = os.path.join(folder, "structured_tickets")
    shutil.rmtree(os.path.join(rows, "2of4"))
    os.remove(os.path.join(rows, "benchmark.json"))
    result = self._structured(folder)
    self.assertEqual(result.returncode, 1)
    self.assertIn(os.path.join(rows, "2of4", "seed_*.json"), result.stderr)
    self.assertIn(os.path.join(rows, "benchmark.json"), result.stderr)

  def test_a_prose_number_edited_by_hand_is_caught(self):
    folder = self._copy()
    for doc, old, new, check in (
        ("kd_ticket_study.md", "+0.18 ± 0.47", "+0.28 ± 0.47", self._study),
        ("structured_tickets.md", "+0.33 ± 0.06, is above",
         "+0.33 ± 0.16, is above", self._structured)):
      path = os.path.join(folder, doc)
      with open(path, encoding="utf-8") as stream:
        text = stream.read()
      self.assertEqual(text.count(old), 1, old)
      with open(path, "w", encoding="utf-8") as stream:
        stream.write(text.replace(old, new))
      result = check(folder)
      self.assertEqual(result.returncode, 1, doc)
      self.assertIn("the prose does not say", result.stderr)
      self.assertIn(old, result.stderr)  # the fragment as the rows give it

  def test_a_row_that_changes_a_prose_number_is_caught(self):
    # Seed 2's random_reinit at 99.5% one point lower: the table and the
    # prose's "+0.18 ± 0.47 ... above `lt` in 2 of 3 seeds" both change.
    folder = self._copy()
    path = os.path.join(folder, "kd_ticket_study", "study_a", "seed_2.json")
    with open(path, encoding="utf-8") as stream:
      rows = json.load(stream)
    for row in rows:
      if row["recipe"] == "random_reinit" and row["level"] == 6:
        row["test_accuracy"] -= 0.01
    with open(path, "w", encoding="utf-8") as stream:
      json.dump(rows, stream)
    result = self._study(folder)
    self.assertEqual(result.returncode, 1)
    self.assertIn("out of date", result.stderr)
    self.assertIn("At 99.5% it is not: 83.17% against `lt`'s 83.32%, "
                  "\u22120.16 ± 0.84 points, above `lt` in 1 of 3 seeds",
                  result.stderr)


if __name__ == "__main__":
  tf.test.main()
