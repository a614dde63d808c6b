#!/usr/bin/env bash
# The performance issue's GPU measurement in one script: the hardware, then
# tools/benchmark.py for LeNet-300-100, ResNet-20 and ResNet-56 in float32 and
# with XLA + mixed precision, each printed as a table and written as JSON
# under $OUT_DIR.
#
#   bash tools/benchmark_gpu.sh                   # on a machine with a GPU
#   STEPS=2 REPEATS=1 bash tools/benchmark_gpu.sh # a quick dry run (any machine)
#
# Needs the project installed (tools/setup.sh or pip install -e .) in PYTHON's
# environment with a GPU build of TensorFlow. Set POLICY=mixed_bfloat16 for
# chips without fast float16.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
OUT_DIR="${OUT_DIR:-benchmark_gpu}"
POLICY="${POLICY:-mixed_float16}"
mkdir -p "$OUT_DIR"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PYTHON" -c 'import tensorflow as tf; print("TensorFlow", tf.__version__,
tf.config.list_physical_devices("GPU"))'
} | tee "$OUT_DIR/hardware.txt"

# name, model flags, default steps, default repeats
runs=(
  "lenet --model=lenet_300_100 200 15"
  "resnet20 --model=resnet_cifar --depth=20 50 9"
  "resnet56 --model=resnet_cifar --depth=56 20 9"
)
for run in "${runs[@]}"; do
  read -r name model_flags steps repeats <<<"$run"
  for setting in float32 "xla_${POLICY}"; do
    extra=()
    if [ "$setting" != float32 ]; then
      extra=(--jit_compile "--mixed_precision=$POLICY")
    fi
    pipeline=()
    if [ "$name" != lenet ]; then pipeline=(--pipeline_dataset=); fi
    # shellcheck disable=SC2086  # model_flags holds several flags
    "$PYTHON" tools/benchmark.py $model_flags --batch_size=128 \
        --steps="${STEPS:-$steps}" --repeats="${REPEATS:-$repeats}" \
        "${pipeline[@]}" "${extra[@]}" \
        --json_out="$OUT_DIR/${name}_${setting}.json" \
        | tee "$OUT_DIR/${name}_${setting}.txt"
  done
done
