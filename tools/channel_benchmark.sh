#!/bin/bash
# Study E's speed measurement (docs/channel_tickets.md, "Speed"): compacted
# channel tickets against their dense model in one run, beside a control built
# at the same widths from the start.
#   * LeNet-300-100 on Fashion-MNIST, 80% of the hidden units removed
#     (layer-wise: 300-100 -> 60-20); control `width_controls:lenet_60_20`.
#   * ResNet-20 (resnet_cifar, depth 20) on Fashion-MNIST, half of every
#     group's channels removed (layer-wise: 16/32/64 -> 8/16/32); control
#     resnet_cifar at width 8.
# Latency does not depend on the weights' values, so each network trains one
# epoch on a subset, enough to export; the tickets' accuracy is study E's.
#   * Study E's own LeNet tickets for the accuracy-latency plot: seed 0's `lt`
#     at 50, 75 and 90% (configs/study_e_lenet_channel.flags, the same
#     training as the study's rows), compacted.
# Run it on a quiet machine (nothing else running):
#   tools/channel_benchmark.sh
# writes docs/channel_tickets/{benchmark,session_profile}_*.json (one
# profile with oneDNN held to AVX2: ONEDNN_MAX_CPU_ISA=AVX2).
# TRAIN_ONLY=1 trains and exports only (rerunning skips what is done);
# PROFILES_ONLY=1 skips the benchmarks and writes the profiles only;
# REPEATS=N times LeNet's Session call in N more processes (default 6).
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=${ROOT:-workdirs/channel_benchmark}
OUT=${OUT:-docs/channel_tickets}
COMMON=(--dataset=fashion_mnist --validation_size=0 --epochs=1
        --prune_schedule=oneshot --recipes=lt --export --export_tflite
        --verbose=0 --seed=0)
train() {  # train NAME [flags]
  local name=$1
  shift
  "$PYTHON" -m kdticket_tf.train "${COMMON[@]}" --workdir="$ROOT/$name" "$@"
}
LENET=(--model=lenet_300_100 --train_size=6000 --batch_size=60
       --optimizer=adam --lr=1.2e-3)
RESNET=(--model=resnet_cifar --depth=20 --train_size=1000 --batch_size=100
        --optimizer=sgd --lr=0.1)
# 81.8% of LeNet's weights is 80% of every layer's units under layer-wise
# ranking; 75% of ResNet-20's is half of every group.
train lenet "${LENET[@]}" --sparsity_structure=channel --prune_scope=layerwise \
    --target_sparsities=0.818
PYTHONPATH=tools${PYTHONPATH:+:$PYTHONPATH} train lenet_60_20 "${LENET[@]}" \
    --model=width_controls:lenet_60_20 --target_sparsities=0.5
train resnet20 "${RESNET[@]}" --sparsity_structure=channel \
    --prune_scope=layerwise --target_sparsities=0.75
train resnet20_width8 "${RESNET[@]}" --width=8 --target_sparsities=0.5
TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "$PYTHON" \
    -m kdticket_tf.train --flagfile=configs/study_e_lenet_channel.flags \
    --recipes=lt --export --export_tflite --workdir="$ROOT/lenet_tickets"
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0  # the timing wants a quiet machine
mkdir -p "$OUT"
benchmark() {  # benchmark NAME [flags]: the run's JSON, then its tables
  local name=$1
  shift
  "$PYTHON" tools/benchmark_inference.py --workdir="$ROOT/$name" \
      --recipes=lt --threads=1 --format=json "$@" > "$OUT/benchmark_$name.json"
  "$PYTHON" tools/benchmark_inference.py \
      --from_json="$OUT/benchmark_$name.json"
}
if [ "${PROFILES_ONLY:-0}" != 1 ]; then
  benchmark lenet --controls="$ROOT/lenet_60_20" --batch_sizes=1,32,256 \
      --session_floor --caller_thread
  benchmark resnet20 --controls="$ROOT/resnet20_width8" \
      --batch_sizes=1,32,256 --session_floor --caller_thread
  benchmark lenet_tickets
  # LeNet's Session call at batch 32 again (9 rounds each), in separate
  # processes spread over minutes: its fixed cost (a thread's wake-up)
  # drifts with the machine. --caller_thread: the same on the calling
  # thread, with no wake-up.
  mkdir -p "$OUT/repeats"
  rm -f "$OUT"/repeats/benchmark_lenet_*.json  # no earlier run's left over
  for run in $(seq "${REPEATS:-6}"); do
    sleep 20
    "$PYTHON" tools/benchmark_inference.py --workdir="$ROOT/lenet" \
        --controls="$ROOT/lenet_60_20" --recipes=lt --threads=1 \
        --batch_sizes=32 --rounds=9 --session_floor --caller_thread \
        --format=json \
        > "$OUT/repeats/benchmark_lenet_$run.json"
  done
fi
# Where the Session's time goes, layer by layer (ResNet-20 by stage, and its
# dense model and compacted ticket kernel by kernel): the dense model, the
# compacted ticket, the control.
served() {  # served WORKDIR:MODEL/VERSION ...: their folders, comma-separated
  local found="" item
  for item in "$@"; do
    found+="$ROOT/${item%%:*}/export/serving/${item#*:},"
  done
  echo "${found%,}"
}
"$PYTHON" tools/session_profile.py --format=json --saved_model="$(served \
    lenet:dense/0 lenet:lt_compact/1 lenet_60_20:dense/0)" \
    > "$OUT/session_profile_lenet.json"
"$PYTHON" tools/session_profile.py --format=json --group='^stage\d' \
    --saved_model="$(served resnet20:dense/0 resnet20:lt_compact/1 \
    resnet20_width8:dense/0)" > "$OUT/session_profile_resnet20.json"
"$PYTHON" tools/session_profile.py --format=json --saved_model="$(served \
    resnet20:dense/0 resnet20:lt_compact/1)" \
    > "$OUT/session_profile_resnet20_layers.json"
# The same two by stage with oneDNN held to AVX2 (8 float32 lanes a vector,
# where AVX-512 has 16): do the 8-channel convolutions lose to the vectors'
# width?
ONEDNN_MAX_CPU_ISA=AVX2 "$PYTHON" tools/session_profile.py --format=json \
    --group='^stage\d' --saved_model="$(served resnet20:dense/0 \
    resnet20:lt_compact/1)" > "$OUT/session_profile_resnet20_avx2.json"
