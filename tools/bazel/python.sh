#!/usr/bin/env bash
# The interpreter Bazel's Python rules run (--python_path): the project's .venv.
# Calling .venv/bin/python by its own path keeps the virtual environment active
# (Bazel would otherwise run the interpreter the venv's symlink points to).
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.venv/bin/python" "$@"
