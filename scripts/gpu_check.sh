#!/usr/bin/env bash
# The GPU checks of s2h-vlm, for a machine with an NVIDIA GPU (CI has none and never runs this).
# Builds with the cuda feature, runs the backend-generic model tests on cuda (and flex/ndarray),
# then measures forward + backward throughput of `base` on cuda.
#
#   scripts/gpu_check.sh [peak_tflops]     # e.g. 67 for H100 FP32 (for the MFU line)
set -euo pipefail
cd "$(dirname "$0")/.."
export PEAK_TFLOPS="${1:-${PEAK_TFLOPS:-}}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
cargo test -p s2h-vlm --features cuda --test model -- --test-threads=1
cargo test -p s2h-vlm --features cuda --lib backend
cargo run --release -p s2h-vlm --features cuda --example train_step_bench -- base 8 512 10 cuda
cargo run --release -p s2h-vlm --features cuda --example train_step_bench -- small 8 512 10 cuda
