"""Tests of the code's layout: packages, imports, sizes, the public API.

The packages and which may import which are read from docs/dev/layout.md, so
the document and the code cannot drift apart.
"""

import ast
import glob
import importlib.util
import os
import re

import tensorflow as tf

import kdticket_tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "kdticket_tf")
LAYOUT_DOC = os.path.join(ROOT, "docs", "dev", "layout.md")
ALWAYS = {"environment", "logs", "registry"}  # any package may import these
TOP = {"api", "train", "kdticket_tf"}  # the top level, above every package
_NAME = r"[a-z_][a-z0-9_]*"  # a package's name (`keras3`)


def _modules():
  """Returns `{dotted name: path}` of every module of the package."""
  found = {}
  for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    found[name.removesuffix(".__init__")] = path
  return found


def _imports(path, modules):
  """Returns the project modules `path` imports (at any depth of the file)."""
  with open(path, encoding="utf-8") as stream:
    tree = ast.parse(stream.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name in modules}
    elif isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        name = f"{node.module}.{alias.name}"
        found.add(name if name in modules else node.module)
  return {name for name in found if name in modules}


def _package(module):
  """`search` for `kdticket_tf.search.lottery`; `api` for a top-level module."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else parts[0]


def _allowed():
  """Returns `{package: packages it may import}` from docs/dev/layout.md."""
  with open(LAYOUT_DOC, encoding="utf-8") as stream:
    text = stream.read()
  allowed = {}
  for line in text.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 3 and re.fullmatch(rf"`{_NAME}`", cells[0]):
      allowed[cells[0].strip("`")] = set(re.findall(rf"`({_NAME})`",
                                                    cells[2]))
  return allowed


class LayoutTest(tf.test.TestCase):

  def test_every_package_is_in_the_layout_document_and_nothing_else(self):
    packages = {os.path.basename(os.path.dirname(p)) for p in glob.glob(
        os.path.join(PACKAGE, "*", "__init__.py"))}
    self.assertEqual(set(_allowed()), packages)

  def test_packages_import_only_what_the_layout_document_allows(self):
    modules, allowed = _modules(), _allowed()
    wrong = []
    for module, path in modules.items():
      package = _package(module)
      if package in TOP or package in ALWAYS:
        continue
      for imported in _imports(path, modules):
        target = _package(imported)
        if target not in {package} | ALWAYS | allowed[package]:
          wrong.append(f"{module} imports {imported}")
    self.assertEqual(wrong, [])

  def test_the_imports_form_no_cycle(self):
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    # A package's `__init__` importing its own modules is no cycle of
    # `from kdticket_tf.package import module`.
    state = {}

    def visit(module, path):
      state[module] = "open"
      for imported in sorted(graph[module]):
        if state.get(imported) == "open":
          self.fail(f"import cycle: {' -> '.join(path + [imported])}")
        if imported not in state:
          visit(imported, path + [imported])
      state[module] = "done"

    for module in sorted(graph):
      if module not in state:
        visit(module, [module])

  def test_the_top_level_holds_at_most_eight_modules(self):
    top = glob.glob(os.path.join(PACKAGE, "*.py"))
    self.assertLessEqual(len(top), 8, sorted(top))

  def test_every_package_says_what_it_is(self):
    for path in glob.glob(os.path.join(PACKAGE, "*", "__init__.py")):
      with open(path, encoding="utf-8") as stream:
        self.assertIsNotNone(ast.get_docstring(ast.parse(stream.read())),
                             path)

  def test_no_file_over_400_lines_and_no_class_over_200(self):
    long_files, long_classes = [], []
    for path in (glob.glob(os.path.join(PACKAGE, "**", "*.py"),
                           recursive=True) +
                 glob.glob(os.path.join(ROOT, "tools", "*.py"))):
      with open(path, encoding="utf-8") as stream:
        text = stream.read()
      if text.count("\n") > 400:
        long_files.append(os.path.relpath(path, ROOT))
      for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.ClassDef) and
            node.end_lineno - node.lineno + 1 > 200):
          long_classes.append(f"{os.path.relpath(path, ROOT)}:{node.name}")
    self.assertEqual(long_files, [])
    self.assertEqual(long_classes, [])

  def test_tools_use_only_the_public_api(self):
    wrong = []
    for path in glob.glob(os.path.join(ROOT, "tools", "*.py")):
      with open(path, encoding="utf-8") as stream:
        text = stream.read()
      for node in ast.walk(ast.parse(text)):
        names = []
        if isinstance(node, ast.Import):
          names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
          names = [node.module]
        wrong += [f"{os.path.basename(path)} imports {n}" for n in names
                  if n.startswith("kdticket_tf") and n != "kdticket_tf"]
      for name in re.findall(r"\bkdticket_tf\.([A-Za-z_]+)", text):
        if name not in kdticket_tf.__all__ and name != "train":
          wrong.append(f"{os.path.basename(path)} uses kdticket_tf.{name}")
    self.assertEqual(sorted(set(wrong)), [])

  def test_the_public_api_loads(self):
    # Its modules are found, not imported: loading `trainer_flags` defines
    # absl flags, which a tool's test in the same process may define too.
    modules = kdticket_tf._MODULES  # pylint: disable=protected-access
    for name, module in modules.items():
      self.assertIsNotNone(
          importlib.util.find_spec(f"kdticket_tf.{module}"), name)
    for name in set(kdticket_tf.__all__) - set(modules):
      self.assertIsNotNone(getattr(kdticket_tf, name), name)

  def test_the_coordinator_and_runner_hold_no_branch_on_stage_kinds(self):
    # Stage kinds are rows of `search/kinds.py`: the coordinator, the stage
    # runner and the graph ask a stage's kind and import no kind of their own.
    modules = _modules()
    for name in ("lottery", "stages", "graph"):
      module = f"kdticket_tf.search.{name}"
      imported = _imports(modules[module], modules)
      self.assertEmpty({m for m in imported if _package(m) == "instability"}
                       | imported & {"kdticket_tf.search.dense_stage",
                                     "kdticket_tf.search.ticket_stage"},
                       module)
      with open(modules[module], encoding="utf-8") as stream:
        self.assertNotRegex(stream.read(), r"is_key|\"instability\"|== ?DENSE")

  def test_the_instability_kind_is_one_registry_row(self):
    # pylint: disable=g-import-not-at-top
    from kdticket_tf.instability import kind
    from kdticket_tf.search import kinds
    self.assertEqual([k for k in kinds.KINDS if k is kind.KIND], [kind.KIND])
    self.assertIs(kinds.of(kdticket_tf.StageKey("instability", 2)), kind.KIND)
    self.assertIsNot(kinds.of(kdticket_tf.StageKey("lt", 2)), kind.KIND)


if __name__ == "__main__":
  tf.test.main()
