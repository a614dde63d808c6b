#!/bin/bash
# Runs study D (docs/structured_tickets.md) one training at a time, resumably,
# seed by seed: the 1x4 arm, then the unstructured and 2:4 arms, which start
# from a copy of the 1x4 arm's dense run (the same dense training: so the arms
# of a seed prune the same final weights and their differences are paired).
#   nohup nice -n 19 tools/study_d.sh > workdirs/study_d.log 2>&1 &
# Rerunning it resumes: finished stages are skipped.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=workdirs/study_d
for seed in ${SEEDS:-0 1 2}; do
  for arm in 1x4 unstructured 2of4; do
    dense="$ROOT/1x4/seed_${seed}/dense"
    target="$ROOT/${arm}/seed_${seed}"
    if [ "$arm" != 1x4 ] && [ ! -e "$target/dense/metrics.json" ]; then
      mkdir -p "$target" && cp -r "$dense" "$target/"
    fi
    "$PYTHON" tools/run_seeds.py --config="configs/study_d_lenet_${arm}.flags" \
        --seeds="$seed" --workdir="$ROOT/${arm}"
  done
done
