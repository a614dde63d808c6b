#!/bin/bash
# Runs study E (docs/channel_tickets.md), two trainings at a time, resumably.
# A job is one setup and one seed: the L1 arm (every recipe), then the refill
# arm (lt and kd), which starts from a copy of the L1 arm's dense run, so the
# two criteria prune the same final weights and their differences are paired
# by seed. The filters setup has a third arm, layer-wise ranking (every
# recipe, --prune_scope=layerwise), a job of its own that trains its own
# dense run: with --deterministic a run's result depends on its seed, not on
# the load, so that run is the L1 arm's, and the report checks that their
# dense accuracies agree seed by seed. Two jobs run at once, each on one
# core. Rerunning the script resumes every job: finished stages are skipped.
# Each finished arm's rows are copied to
# docs/channel_tickets/<setup>_<arm>/seed_S.json, with the channels its masks
# keep per layer (widths_seed_S.json).
#   nohup nice -n 19 tools/study_e.sh > workdirs/study_e.log 2>&1 &
# Some jobs only, each named as "job SETUP SEED" or "layerwise SETUP SEED":
#   nohup nice -n 19 tools/study_e.sh "layerwise conv 0" "layerwise conv 1" \
#       > workdirs/study_e.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=workdirs/study_e

job() {  # job SETUP SEED: the L1 arm, then the refill arm
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

layerwise() {  # layerwise SETUP SEED: the layer-wise ranking arm
  local setup=$1 seed=$2
  export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
  "$PYTHON" tools/run_seeds.py \
      --config="configs/study_e_${setup}_channel.flags" --seeds="$seed" \
      --workdir="$ROOT/${setup}_layerwise" -- --prune_scope=layerwise \
      || return 1
  keep "$setup" layerwise "$seed"
}

keep() {  # keep SETUP ARM SEED: the rows, for docs/channel_tickets.md
  local rows="docs/channel_tickets/$1_$2"
  mkdir -p "$rows"
  cp "$ROOT/$1_$2/seed_$3/results.json" "$rows/seed_$3.json"
  "$PYTHON" tools/channel_report.py --widths="$ROOT/$1_$2/seed_$3" \
      > "$rows/widths_seed_$3.json"
}

export -f job layerwise keep
export PYTHON ROOT
mkdir -p "$ROOT"
for line in "$@"; do
  case "${line%% *}" in
    job|layerwise) ;;
    *) echo "study_e.sh: \"$line\" is not a job; name one as \"job SETUP" \
           "SEED\" or \"layerwise SETUP SEED\"." >&2; exit 2 ;;
  esac
done
if [ $# -eq 0 ]; then
  set -- "job lenet 0" "job conv 0" "job conv 1" "job conv 2" \
      "layerwise conv 0" "layerwise conv 1" "layerwise conv 2" \
      "job lenet 1" "job lenet 2"
fi
printf '%s\n' "$@" |
  xargs -P 2 -L 1 bash -c '"$0" "$1" "$2" && echo "study E: $0 $1 seed $2 done"'
