#!/bin/bash
# Runs study D (docs/structured_tickets.md) one training at a time, resumably:
# the 1x4 arm, the 2:4 arm, then the unstructured arm, seeds 0, 1, 2 each.
#   nohup nice -n 19 tools/study_d.sh > workdirs/study_d.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
for arm in 1x4 2of4 unstructured; do
  "$PYTHON" tools/run_seeds.py --config="configs/study_d_lenet_${arm}.flags" \
      --seeds=0,1,2 --workdir="workdirs/study_d/${arm}"
done
