#!/usr/bin/env bash
# The project's test command (README, and .ci/run calls exactly this). It installs what the tests
# need, then checks formatting, lints, the GPU build, and runs every test in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

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

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo check --features wgpu
cargo test --release --workspace
