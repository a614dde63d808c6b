#!/bin/bash
# Runs study D (docs/structured_tickets.md) one training at a time, resumably.
# The unstructured and 2:4 arms of a seed start from a copy of the 1x4 arm's
# dense run (one dense training per seed: the arms prune the same final weights,
# so their differences are paired). Seed 0 first runs lt and kd of every arm
# (recipes may be added when a run resumes), then the other recipes, then seeds
# 1 and 2 in full. Rerunning the script resumes: finished stages are skipped.
#   nohup nice -n 19 tools/study_d.sh > workdirs/study_d.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=workdirs/study_d

run() {  # run ARM SEED [extra trainer flags]
  local arm=$1 seed=$2
  shift 2
  local target="$ROOT/${arm}/seed_${seed}"
  local dense="$ROOT/1x4/seed_${seed}/dense"
  if [ "$arm" != 1x4 ] && [ ! -e "$target/dense/metrics.json" ] &&
      [ -e "$dense/metrics.json" ]; then
    mkdir -p "$target" && cp -r "$dense" "$target/"
  fi
  "$PYTHON" tools/run_seeds.py --config="configs/study_d_lenet_${arm}.flags" \
      --seeds="$seed" --workdir="$ROOT/${arm}" -- "$@"
  # The rows, for docs/structured_tickets.md (committed by hand).
  mkdir -p "docs/structured_tickets/${arm}"
  cp "$target/results.json" "docs/structured_tickets/${arm}/seed_${seed}.json"
}

run 1x4 0
run unstructured 0 --recipes=lt,kd
run 2of4 0 --recipes=lt,kd
run unstructured 0
run 2of4 0
for seed in 1 2; do
  for arm in 1x4 unstructured 2of4; do
    run "$arm" "$seed"
  done
done
