#!/usr/bin/env bash
# Runs the Bazel tests offline: installs Debian's bazel-bootstrap (and its mock
# repositories) when missing, then `bazel test` with the project's .venv Python.
#
#   bash tools/setup.sh && bash tools/bazel_test.sh            # the small tests
#   bash tools/bazel_test.sh //...                             # every test
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bazel >/dev/null || [ ! -d /usr/src/bazel-bootstrap/mock_repos ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    bazel-bootstrap bazel-bootstrap-source
fi
if [ ! -x .venv/bin/python ]; then
  echo "bazel_test.sh: error: .venv is missing; run bash tools/setup.sh first." >&2
  exit 1
fi
PYTHON="$(pwd)/tools/bazel/python.sh"
if [ "$#" -eq 0 ]; then
  set -- --test_size_filters=small //...
fi
exec bazel test --config=offline --python_path="$PYTHON" \
  --override_repository=remote_coverage_tools="$(pwd)/tools/bazel/remote_coverage_tools" \
  "$@"
