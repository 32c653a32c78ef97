#!/usr/bin/env bash
# Builds the Python wheel with maturin and runs its pytest suite, in a virtualenv of its own
# (numpy, pandas, pytest; scikit-learn, Dask, pyarrow and onnxruntime for the convention, scale-out
# and ONNX parity tests).
# Arguments go to `maturin build` (e.g. `--features wgpu`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HOURGLASS_PY_VENV:-$HOME/.cache/hourglass-py-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.16,<2" numpy pandas pytest scikit-learn "dask[distributed]" pyarrow onnx onnxruntime
wheels="$(mktemp -d)"
"$venv/bin/maturin" build --release -q -m crates/hourglass-py/Cargo.toml -o "$wheels" "$@"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/*.whl
rm -rf "$wheels"
cd crates/hourglass-py/tests
"$venv/bin/python" -m pytest -q -p no:cacheprovider .
