# Sourced by the scripts that run PyTorch beside hourglass (run.sh, e2e.sh): the full
# Fashion-MNIST from Debian, the bench virtualenv with PyTorch, the shared target directory, and
# with avx2=1 PyTorch held to its AVX2 kernels (ATen, MKL, and oneDNN's convolutions).
# Sets: data, venv.
data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist
fi
venv="${HOURGLASS_BENCH_VENV:-$HOME/.cache/hourglass-bench-venv}"
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}"
if [ "${avx2:-0}" = 1 ]; then
    export ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
fi
