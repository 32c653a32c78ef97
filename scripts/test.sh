#!/usr/bin/env bash
# The project's test command (README, and .ci/run calls exactly this). It installs what the tests
# need, then checks formatting and lints, runs every test in release mode, the GPU path on a
# software Vulkan, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's wall time goes to the log, so CI runs record where the minutes go.
stage() { echo "== $1 done at ${SECONDS}s since the start"; }

# The full Fashion-MNIST set, for the test that trains on all 60k images.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq dataset-fashion-mnist
fi
# Python's safetensors and pandas, for the tests that read our files from Python.
if ! python3 -c "import safetensors.numpy, pandas" 2>/dev/null; then
    python3 -m pip install -q safetensors numpy pandas
fi

# Mesa's lavapipe, a software Vulkan: the wgpu (GPU) code path runs on it when no GPU is here.
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq mesa-vulkan-drivers
fi

stage "set-up"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The wheel's build below must ask for the same crate features as the test build, or it compiles
# Burn a second time (about 10 minutes of CI).
bash scripts/check-features.sh
stage "fmt, clippy and features"
# Every test, with the GPU feature built in so that one build serves all of them: the wgpu test
# runs the GPU path against the CPU one on lavapipe (cubecl skips software adapters unless told
# to take one); every other test runs on the CPU as without the feature. A clean clone has no
# cubecl cache (target/environment), so every kernel is autotuned on lavapipe again: minimal
# autotuning took the two wgpu tests from 324 s to 186 s in a cold run (BENCHMARKS.md).
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" CUBECL_WGPU_DEFAULT_DEVICE=Cpu \
    CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}" \
    cargo test --release --workspace --features hourglass-cli/wgpu
stage "cargo test (with the wgpu test)"
# The Python package as users build it: wheel built by maturin, pytest suite
# (scripts/test-python.sh). With the same features as the build above, it reuses that build.
bash scripts/test-python.sh --features wgpu
stage "python wheel and tests"
# Every reader fuzzed briefly, so a regression shows (long runs: BENCHMARKS.md). Built without
# optimisation: a cold build of 4 minutes instead of 12, for 7–20× fewer executions, which a smoke
# can spare (its corpus replays either way); FUZZ_DEV=0 builds optimised.
FUZZ_DEV="${FUZZ_DEV:-1}" bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
stage "fuzz smoke"
