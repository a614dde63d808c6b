"""The front page and the manual: the example runs, the links and commands hold.

README.md's Python examples run as written (a tf_keras one, and a Keras 3 one
whose tickets come back as `.keras` files); README.md stays a front page (at
most 12 KiB); every relative link of README.md and docs/**/*.md names a file
that exists; every trainer command there names flagfiles that exist and flags
the trainer defines; every tool named exists; every `kdticket_tf.<name>` is a
public name or module; the findings the README quotes are the studies'
numbers; the "Adding a setting" diff is what the code holds.
"""

import copy
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata

from absl import flags
import tensorflow as tf

import kdticket_tf
from kdticket_tf.config import flags as trainer_flags

# Under `bazel test` the files are symlinks into the source tree: follow BUILD's.
ROOT = os.path.dirname(os.path.realpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "BUILD")))
README = "README.md"
README_MAX_BYTES = 12 * 1024
# absl's own flags, which every absl program takes.
_ABSL_FLAGS = ("flagfile", "helpfull", "help", "helpshort", "helpxml",
               "undefok")
_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_SPAN = re.compile(r"`([^`]+)`")
_TRAINER = re.compile(r"python -m kdticket_tf\.train\b(.*)")
_TOOL = re.compile(r"\btools/[\w./-]+\.(?:py|sh)\b")
_PUBLIC_NAME = re.compile(r"\bkdticket_tf((?:\.[A-Za-z_]\w*)+)")
# A figure as the studies write it: 0.145, −1.2 ± 3.0, 0.33x (the x left out).
_NUMBER = re.compile(r"[−-]?\d+(?:[.,]\d+)*(?: ± \d+(?:\.\d+)?)?")


def _read(page):
  with open(os.path.join(ROOT, page), encoding="utf-8") as stream:
    return stream.read()


def _pages():
  """README.md and every page under docs/, relative to the repository."""
  docs = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
  return [README] + sorted(os.path.relpath(path, ROOT) for path in docs)


def _without_fences(text):
  return _FENCE.sub("", text)


def _shell_texts(text):
  """The shell a page shows: fenced blocks (not Python, diffs) and code spans.

  Continued lines (a trailing backslash) are joined, and a code span that the
  prose wraps over lines is read as one line.
  """
  blocks = [body for language, body in _FENCE.findall(text)
            if language not in ("python", "diff")]
  spans = [" ".join(span.split()) for span in
           _SPAN.findall(_without_fences(text))]
  return [block.replace("\\\n", " ") for block in blocks] + spans


def _trainer_commands(text):
  """The arguments of each `python -m kdticket_tf.train` command of `text`."""
  commands = []
  for shell in _shell_texts(text):
    for line in shell.split("\n"):
      for match in _TRAINER.finditer(line):
        # The command ends where the shell starts another one or a comment.
        rest = re.split(r"&&|\|\||[;|>]|\s#", match.group(1))[0]
        commands.append(shlex.split(rest))
  return commands


def _heading_anchors(text):
  """GitHub's anchors of a page's headings (`## A b` -> `a-b`)."""
  anchors = set()
  for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", _without_fences(text),
                            re.M):
    heading = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    slug = "".join(
        character for character in heading
        if character in " -_" or unicodedata.category(character)[0] in "LN")
    slug = slug.replace(" ", "-")
    anchor, count = slug, 1
    while anchor in anchors:
      anchor, count = f"{slug}-{count}", count + 1
    anchors.add(anchor)
  return anchors


def _findings_paragraphs():
  text = _read(README)
  section = text.split("\n## What the studies found\n", 1)[1].split("\n## ")[0]
  return [" ".join(paragraph.split())
          for paragraph in section.split("\n\n") if paragraph.strip()]


def _python_blocks(page):
  return [body for language, body in _FENCE.findall(_read(page))
          if language == "python"]


def _run_example(example, folder):
  """Runs a README example as a user's own script in `folder`."""
  script = os.path.join(folder, "example.py")
  with open(script, "w", encoding="utf-8") as stream:
    stream.write(example)
  environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  environment.pop("TF_USE_LEGACY_KERAS", None)
  return subprocess.run([sys.executable, script], cwd=folder,
                        env=environment, capture_output=True, text=True,
                        timeout=600, check=False)


class ReadmeExampleTest(tf.test.TestCase):

  def test_the_readme_has_its_two_python_examples(self):
    examples = _python_blocks(README)
    self.assertLen(examples, 2)
    self.assertIn("import tf_keras as keras", examples[0])
    self.assertTrue(examples[1].startswith("import keras  # Keras 3\n"))

  def test_the_readme_python_example_runs_as_written(self):
    folder = os.path.join(self.get_temp_dir(), "tf_keras_example")
    os.makedirs(folder)
    result = _run_example(_python_blocks(README)[0], folder)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(folder, "workdirs", "mine", "results.json")) as f:
      rows = json.load(f)
    self.assertEqual([(row["recipe"], row["level"]) for row in rows],
                     [("dense", 0), ("lt", 1), ("rewind", 1), ("kd", 1),
                      ("lt", 2), ("rewind", 2), ("kd", 2)])
    # One printed line per row of the workdir's results, with its figures.
    printed = result.stdout.strip().split("\n")
    self.assertEqual(printed, [
        f"{row['recipe']} {row['level']} "
        f"{100 * row['weights_remaining']:.1f}% of the weights "
        f"test accuracy {100 * row['test_accuracy']:.1f}%" for row in rows])
    self.assertEqual([row["weights_remaining"] for row in rows[::3]],
                     [1.0, 0.8, 0.64])
    # Ten classes: chance is 10%; the dense MLP learns well above it.
    self.assertGreater(rows[0]["test_accuracy"], 0.3)

  def test_the_readme_keras3_example_runs_as_written(self):
    folder = os.path.join(self.get_temp_dir(), "keras3_example")
    os.makedirs(folder)
    result = _run_example(_python_blocks(README)[1], folder)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    workdir = os.path.join(folder, "workdirs", "keras3")
    with open(os.path.join(workdir, "results.json")) as f:
      rows = json.load(f)
    self.assertEqual([(row["recipe"], row["level"]) for row in rows],
                     [("dense", 0), ("kd", 1), ("kd", 2), ("kd", 3)])
    self.assertAlmostEqual(rows[-1]["weights_remaining"], 0.512, places=2)
    for row in rows:
      ticket = kdticket_tf.read_ticket(os.path.join(
          workdir, "export", "serving", row["recipe"], str(row["level"])))
      self.assertEqual(ticket["keras_file"], "model.keras")
    # The last line: the loaded ticket's non-zero weights (kernels and
    # biases) of its 1,604, about half of the kernels' 1,536 pruned.
    left, total = re.fullmatch(r"(\d+) of (\d+) weights left",
                               result.stdout.strip().splitlines()[-1]).groups()
    self.assertEqual(int(total), 20 * 64 + 64 + 64 * 4 + 4)
    self.assertBetween(int(left), 0.512 * 1536, 0.512 * 1536 + 68)


class DocsTest(tf.test.TestCase):

  def test_the_readme_is_a_front_page(self):
    size = os.path.getsize(os.path.join(ROOT, README))
    self.assertLessEqual(size, README_MAX_BYTES,
                         "README.md is a front page; the manual is docs/guide/.")

  def test_the_findings_quote_their_studies_numbers(self):
    # Each paragraph of "What the studies found" quotes the pages it links to
    # (a paragraph that links to no study quotes the one before it).
    problems, sources = [], []
    for paragraph in _findings_paragraphs():
      linked = [target for target in _LINK.findall(paragraph)
                if target.startswith("docs/") and "/guide/" not in target]
      sources = linked or sources
      self.assertNotEmpty(sources, paragraph)
      quoted = " ".join(" ".join(_read(source).split()) for source in sources)
      for number in _NUMBER.findall(_LINK.sub("", paragraph)):
        if " ".join(number.split()) not in quoted:
          problems.append(f"{number!r} is not in {sources}")
    self.assertEmpty(problems)

  def test_every_relative_link_resolves(self):
    broken = []
    for page in _pages():
      for target in _LINK.findall(_without_fences(_read(page))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
          continue  # a URL, or an anchor of the page itself
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(
            os.path.join(ROOT, os.path.dirname(page), path))
        if not os.path.exists(resolved):
          broken.append(f"{page}: {target}")
        elif anchor and path.endswith(".md") and anchor not in (
            _heading_anchors(_read(os.path.relpath(resolved, ROOT)))):
          broken.append(f"{page}: {target} (no such heading)")
    self.assertEmpty(broken)

  def test_the_pages_are_found(self):
    pages = _pages()
    self.assertIn("docs/guide/README.md", pages)
    self.assertIn("docs/kd_ticket_study.md", pages)

  def test_trainer_commands_name_real_flagfiles_and_flags(self):
    trainer = {flag.name for flag in
               flags.FLAGS.get_key_flags_for_module(trainer_flags)}
    self.assertContainsSubset({"workdir", "recipes", "export"}, trainer)
    problems, commands = [], 0
    for page in _pages():
      for arguments in _trainer_commands(_read(page)):
        commands += 1
        for argument in arguments:
          problems.extend(
              f"{page}: {problem}"
              for problem in _argument_problems(argument, trainer))
    self.assertEmpty(problems)
    self.assertGreater(commands, 20)  # the pages' commands were all found

  def test_the_command_finder_reads_continued_lines_and_spans(self):
    text = ("Run `python -m kdticket_tf.train --flagfile=a.flags\n"
            "--workdir=w` now.\n\n```sh\n"
            "python -m kdticket_tf.train --levels=2 \\\n"
            "    --nolevels  # a comment --no_such_flag\n"
            "python -m kdticket_tf.train --seed=1 && ls --all\n```\n")
    self.assertCountEqual(
        _trainer_commands(text),
        [["--flagfile=a.flags", "--workdir=w"], ["--levels=2", "--nolevels"],
         ["--seed=1"]])

  def test_a_bad_flag_or_flagfile_is_reported(self):
    trainer = {"levels", "export"}
    self.assertEqual(_argument_problems("--levels=2", trainer), [])
    self.assertEqual(_argument_problems("--noexport", trainer), [])
    self.assertLen(_argument_problems("--no_such_flag=1", trainer), 1)
    self.assertLen(_argument_problems("--flagfile=configs/none.flags",
                                      trainer), 1)
    self.assertLen(_argument_problems("workdir", trainer), 1)

  def test_flag_values_in_trainer_commands_parse(self):
    # A value the flag refuses (an enum's unknown choice, a word for a number)
    # is caught too; placeholders are left alone.
    self.assertEqual(
        _argument_problems("--sparsity_structure=1x4", {"sparsity_structure"}),
        [])
    self.assertLen(_argument_problems("--sparsity_structure=1x3",
                                      {"sparsity_structure"}), 1)

  def test_every_tool_named_exists(self):
    missing = [f"{page}: {tool}" for page in _pages()
               for tool in _TOOL.findall(_read(page))
               if not os.path.isfile(os.path.join(ROOT, tool))]
    self.assertEmpty(missing)

  def test_every_kdticket_tf_name_in_the_pages_exists(self):
    missing = []
    for page in _pages():
      for dotted in set(_PUBLIC_NAME.findall(_read(page))):
        if not _resolves("kdticket_tf" + dotted):
          missing.append(f"{page}: kdticket_tf{dotted}")
    self.assertEmpty(missing)

  def test_python_examples_of_the_manual_compile(self):
    for page in _pages():
      for number, block in enumerate(_python_blocks(page)):
        compile(block, f"{page} python block {number}", "exec")

  def test_the_adding_a_setting_diff_is_what_the_code_holds(self):
    if not shutil.which("git"):
      self.skipTest("git is not installed")
    blocks = [body for language, body in
              _FENCE.findall(_read("docs/guide/adding_a_setting.md"))
              if language == "diff"]
    self.assertLen(blocks, 1)
    self.assertIn("+++ b/kdticket_tf/config/lottery.py", blocks[0])
    # Reversed, the diff applies to today's files: they hold what it adds.
    result = subprocess.run(["git", "apply", "--check", "--reverse", "-"],
                            input=blocks[0], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    self.assertEqual(result.returncode, 0, result.stderr)


def _argument_problems(argument, trainer):
  """What is wrong with one argument of a trainer command (a list)."""
  if not argument.startswith("--"):
    return [f"{argument!r} is not a flag (the trainer takes no arguments)"]
  name, has_value, value = argument[2:].partition("=")
  if name == "flagfile":
    if value != "..." and not os.path.isfile(os.path.join(ROOT, value)):
      return [f"--flagfile={value} does not exist"]
    return []
  if name in _ABSL_FLAGS:
    return []
  if name not in trainer:
    if name.startswith("no") and name[2:] in trainer and not has_value:
      return []  # --noexport: a boolean flag set to false
    return [f"--{name} is not a flag of the trainer"]
  if not has_value or "$" in value or value in ("...", "DIR"):
    return []
  flag = copy.deepcopy(flags.FLAGS[name])
  try:
    flag.parse(value)
  except flags.Error as error:
    return [f"--{name}={value}: {error}"]
  return []


def _resolves(dotted):
  """Whether `dotted` (kdticket_tf.x.y) is a public name, module or attribute."""
  parts = dotted.split(".")
  value = kdticket_tf
  for index in range(1, len(parts)):
    try:
      value = getattr(value, parts[index])
      continue
    except AttributeError:
      pass
    try:
      value = __import__(".".join(parts[:index + 1]), fromlist=["_"])
    except ImportError:
      return False
  return True


if __name__ == "__main__":
  tf.test.main()
