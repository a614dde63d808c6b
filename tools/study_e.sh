#!/bin/bash
# Runs study E (docs/channel_tickets.md), two trainings at a time, resumably.
# A job is one setup and one seed: the L1 arm (every recipe), then the refill
# arm (lt and kd), which starts from a copy of the L1 arm's dense run, so the
# two criteria prune the same final weights and their differences are paired
# by seed. Two jobs run at once, each on one core; with --deterministic a
# run's result depends on its seed, not on the load. Rerunning the script
# resumes every job: finished stages are skipped. Each finished arm's rows are
# copied to docs/channel_tickets/<setup>_<arm>/seed_S.json, with the channels
# its masks keep per layer (widths_seed_S.json).
#   nohup nice -n 19 tools/study_e.sh > workdirs/study_e.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=workdirs/study_e

job() {  # job SETUP SEED
  local setup=$1 seed=$2
  local config="configs/study_e_${setup}_channel.flags"
  local dense="$ROOT/${setup}_l1/seed_${seed}/dense"
  local refill="$ROOT/${setup}_refill/seed_${seed}"
  export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
  "$PYTHON" tools/run_seeds.py --config="$config" --seeds="$seed" \
      --workdir="$ROOT/${setup}_l1" || return 1
  keep "$setup" l1 "$seed"
  if [ ! -e "$refill/dense/metrics.json" ]; then
    mkdir -p "$refill" && cp -r "$dense" "$refill/"
  fi
  "$PYTHON" tools/run_seeds.py --config="$config" --seeds="$seed" \
      --workdir="$ROOT/${setup}_refill" -- --channel_criterion=refill \
      --recipes=lt,kd || return 1
  keep "$setup" refill "$seed"
}

keep() {  # keep SETUP ARM SEED: the rows, for docs/channel_tickets.md
  local rows="docs/channel_tickets/$1_$2"
  mkdir -p "$rows"
  cp "$ROOT/$1_$2/seed_$3/results.json" "$rows/seed_$3.json"
  "$PYTHON" tools/channel_report.py --widths="$ROOT/$1_$2/seed_$3" \
      > "$rows/widths_seed_$3.json"
}

export -f job keep
export PYTHON ROOT
mkdir -p "$ROOT"
printf '%s\n' "lenet 0" "conv 0" "conv 1" "conv 2" "lenet 1" "lenet 2" |
  xargs -P 2 -L 1 bash -c 'job $0 $1 && echo "study E: $0 seed $1 done"'
