r"""Writes BUILD from the source tree: targets and dependencies from the imports.

    python tools/update_build.py          # rewrite BUILD
    python tools/update_build.py --check  # exit 1 when BUILD is out of date

One `py_library` per module of kdticket_tf (a package's `__init__` is its own
target), a `py_binary` for the trainer and each tool, one `py_test` per test
file with the size `_SIZES` gives it. A target's `deps` are the project modules
its file imports. `tests/build_test.py` checks that BUILD is what this writes.
"""

import ast
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Test sizes (Bazel's timeouts); a test not named here is small.
_SIZES = {
    "benchmark_test": "medium", "checks_test": "medium",
    "distill_test": "medium", "logs_test": "medium",
    "distribute_test": "large", "executors_test": "large",
    "export_test": "medium", "lottery_test": "medium",
    "reliability_test": "large", "seeds_test": "medium",
    "structured_report_test": "medium", "summaries_test": "medium",
    "train_test": "large", "readme_test": "medium",
    # Over 15 s each under Bazel on 2 cores (their test.xml times).
    "instability_test": "medium", "instability_report_test": "medium",
    "mnist1d_test": "medium", "tflite_test": "medium",
    "kd_crosscheck_test": "medium", "divergence_test": "medium",
    "user_function_test": "medium",  # about 1 min: four command-line runs
    # Keras 3 searches, or plain Keras 3 processes beside the test's own.
    "keras3_search_test": "medium", "import_order_test": "medium",
    "keras_file_test": "medium", "boundary_test": "medium",
    "narrow_test": "medium",
    # Eight recipes on channel masks, and two command-line runs (about 75 s).
    "channel_tickets_test": "medium",
}
_HEADER = """\
# Bazel targets of kdticket_tf, written by tools/update_build.py: one py_library
# per module, a py_binary for the trainer and each tool, one py_test per test
# file. Third-party packages come from the interpreter given by --python_path
# (see .bazelrc, tools/bazel_test.sh). tests/build_test.py fails when this file
# is not what tools/update_build.py writes.

package(default_visibility = ["//visibility:public"])

licenses(["notice"])
"""


def _target(path):
  """Returns the library name of a module path, e.g. `pruning_masks`."""
  parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
  if parts[0] == "tests":
    return "tests_" + "_".join(parts[1:]) if parts[1] != "__init__" else \
        "tests_init"
  parts = parts[1:]  # drop kdticket_tf
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return "_".join(parts) or "kdticket_tf"


def _module_paths():
  return sorted(glob.glob(os.path.join(ROOT, "kdticket_tf", "**", "*.py"),
                          recursive=True))


def _imports(path, known):
  """Returns the targets of the project modules `path` imports."""
  with open(path, encoding="utf-8") as stream:
    tree = ast.parse(stream.read())
  found = set()
  for node in ast.walk(tree):
    names = []
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      # `from package import module` needs the module, not the package.
      modules = [f"{node.module}.{a.name}" for a in node.names]
      names = [m for m in modules if m in known] or [node.module]
    for name in names:
      if name in known:
        found.add(known[name])
  return found


def _known():
  """Maps dotted module names (kdticket_tf..., tests...) to targets."""
  known = {}
  paths = _module_paths() + [os.path.join(ROOT, "tests", "__init__.py"),
                             os.path.join(ROOT, "tests", "testing.py")]
  for path in paths:
    dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    known[dotted.removesuffix(".__init__")] = _target(path)
  return known


def _rule(kind, name, srcs, deps=(), **attributes):
  lines = [f"{kind}(", f'    name = "{name}",']
  for key, value in attributes.items():
    lines.append(f"    {key} = {value},")
  lines.append(f"    srcs = {json.dumps(list(srcs))},")
  if deps:
    lines.append(f"    deps = {json.dumps([f':{d}' for d in sorted(deps)])},")
  lines.append(")")
  return "\n".join(lines)


def build_text():
  """Returns the BUILD file the source tree calls for."""
  known = _known()
  rules = []
  libraries = [_target(p) for p in _module_paths()]
  for path in _module_paths():
    name = _target(path)
    deps = _imports(path, known) - {name}
    if name == "kdticket_tf":  # the package loads its modules on first use
      deps = set(libraries) - {"kdticket_tf", "train"}
    rules.append(_rule("py_library", name, [os.path.relpath(path, ROOT)],
                       deps))
  rules.append(_rule("py_binary", "kdticket_train", ["kdticket_tf/train.py"],
                     {"kdticket_tf", "train"},
                     main='"kdticket_tf/train.py"'))
  for path in sorted(glob.glob(os.path.join(ROOT, "tools", "*.py"))):
    relative = os.path.relpath(path, ROOT)
    name = "tools_" + os.path.basename(path)[:-3]
    rules.append(_rule("py_binary", name, [relative],
                       _imports(path, known) | {"kdticket_tf"},
                       main=f'"{relative}"'))
  rules.append('filegroup(\n    name = "configs",\n'
               '    srcs = glob(["configs/*.flags"]),\n)')
  rules.append('filegroup(\n    name = "tool_scripts",\n'
               '    srcs = glob(["tools/*.py"]),\n)')
  # The docs and their committed rows: the tests of the study reports, the
  # docs' tables and the layout document read them.
  rules.append('filegroup(\n    name = "docs",\n'
               '    srcs = glob(["docs/**", "README.md"]),\n)')
  rules.append(_rule("py_library", "tests_init", ["tests/__init__.py"]))
  testing = os.path.join(ROOT, "tests", "testing.py")
  rules.append(_rule("py_library", "tests_testing", ["tests/testing.py"],
                     _imports(testing, known) | {"tests_init"}))
  for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*_test.py"))):
    name = os.path.basename(path)[:-3]
    rules.append(_rule(
        "py_test", name, [os.path.relpath(path, ROOT)],
        _imports(path, known) | {"kdticket_tf", "tests_init"},
        size=f'"{_SIZES.get(name, "small")}"',
        data='[":configs", ":tool_scripts", ":docs", "BUILD"]'))
  return _HEADER + "\n" + "\n\n".join(rules) + "\n"


def main(argv):
  text = build_text()
  path = os.path.join(ROOT, "BUILD")
  with open(path, encoding="utf-8") as stream:
    current = stream.read()
  if "--check" in argv:
    if current != text:
      print("BUILD is out of date; run python tools/update_build.py",
            file=sys.stderr)
      return 1
    return 0
  if current != text:
    with open(path, "w", encoding="utf-8") as stream:
      stream.write(text)
    print("BUILD rewritten")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
