#!/usr/bin/env bash
# The GPU checks of issue 17, in two halves so that a borrowed GPU machine (which has no time to
# compile Rust) only runs binaries built beforehand on a machine of the same x86-64 kind:
#
#   scripts/gpu_check.sh build [DIR]         # here: release binaries with --features cuda → DIR
#   scripts/gpu_check.sh run [DIR] [OUT]     # there: tests, throughput, a short training run
#
# DIR defaults to target/gpu-check, OUT to gpu-check-out; `run` writes every number to
# OUT/gpu_numbers.txt (and each command's output to OUT/*.log) and keeps going past a failure.
# PyTorch's numbers for the same shapes come beside s2h's when `python3 -c 'import torch'` works
# there and sees the GPU (f32, then bf16 autocast).
#
# BACKEND=flex FEATURES=flex runs both halves on the CPU: a dry run of the script itself.
# PEAK_TFLOPS (e.g. 67 for an H100's f32) adds model FLOPs utilisation to the throughput lines.
# STEPS lists the training steps measured as preset:batch (default "base:8 base:32 small:32",
# sequences of 512 tokens). Burn 0.21 trains in f32 only here: s2h has no bf16 training path
# yet, so bf16 is PyTorch's.
set -uo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
dir="${2:-target/gpu-check}"
backend="${BACKEND:-cuda}"
features="${FEATURES:-cuda}"

# The executables a `cargo … --message-format=json` build reports, one per line.
executables() { grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//'; }

build() {
    set -e
    rm -rf "$dir" && mkdir -p "$dir/tests"
    cargo test --release -p s2h-vlm --features "$features" --test model --no-run \
        --message-format=json | executables | while read -r exe; do
        cp "$exe" "$dir/tests/model"
    done
    cargo build --release -p s2h-vlm --features "$features" --example train_step_bench \
        --message-format=json | executables | while read -r exe; do cp "$exe" "$dir/"; done
    cargo build --release --features "$features" --example generate --example train \
        --message-format=json | executables | while read -r exe; do cp "$exe" "$dir/"; done
    cp scripts/bench_vlm_torch.py "$dir/"
    strip "$dir"/tests/* "$dir"/train_step_bench "$dir"/generate "$dir"/train 2>/dev/null || true
    du -sh "$dir"
}

run() {
    local out="${3:-gpu-check-out}"
    mkdir -p "$out"
    local numbers="$out/gpu_numbers.txt"
    # `step NAME TIMEOUT CMD…`: run, log, and keep the lines that carry numbers.
    step() {
        local name="$1" limit="$2"
        shift 2
        local started=$SECONDS
        timeout "$limit" "$@" > "$out/$name.log" 2>&1
        local rc=$?
        {
            echo "## $name (exit $rc, $((SECONDS - started)) s): $*"
            grep -E "s/step|tokens/s|MFU|test result|FAILED|error|updates" "$out/$name.log" | tail -8
        } >> "$numbers"
    }
    {
        echo "# s2h GPU check, $(date -u +%Y-%m-%dT%H:%MZ), backend $backend"
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null ||
            echo "(no nvidia-smi)"
    } > "$numbers"
    step model-tests 240 "$dir/tests/model" --test-threads=1
    # f32 training steps: `base`, then a larger batch while it fits, then `small`.
    local runs="${STEPS:-base:8 base:32 small:32}"
    for run in $runs; do
        step "step-${run/:/-b}" 120 "$dir/train_step_bench" "${run%%:*}" "${run##*:}" 512 10 "$backend"
    done
    if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
    then
        for dtype in f32 bf16; do
            for run in $runs; do
                S2H_TORCH_DEVICE=cuda S2H_TORCH_DTYPE=$dtype step "torch-${run/:/-b}-$dtype" 120 \
                    python3 "$dir/bench_vlm_torch.py" "${run##*:}" 512 10 1 "${run%%:*}" image
            done
        done
    else
        echo "## PyTorch: not importable with a GPU here, skipped" >> "$numbers"
    fi
    # A short training run end to end: generate CTR records, train `tiny` on them.
    step generate 120 "$dir/generate" --task ctr --split simple --count 512 \
        --supervision text --out "$out/data"
    step train 300 "$dir/train" --data "$out/data" --preset tiny --backend "$backend" \
        --steps 200 --out "$out/run" --no-eval-check --quiet --log-every 50
    echo "# done in $SECONDS s" >> "$numbers"
    cat "$numbers"
}

case "$mode" in
    build) build ;;
    run) run "$@" ;;
    *)
        echo "usage: scripts/gpu_check.sh build [DIR] | run [DIR] [OUT]" >&2
        exit 2
        ;;
esac
