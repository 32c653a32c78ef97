#!/usr/bin/env bash
# Figures for the Python package (issue 13), each side by side in one run:
#   - `import hourglass` time (median of 5 fresh interpreters), against `import torch`;
#   - `Autoencoder(model="dense").fit` on the full Fashion-MNIST training set against the CLI's
#     `hourglass train` doing the same (same model, epochs, seed), whole processes included;
#   - `AnomalyDetector` against PyOD's `AutoEncoder`, both with their defaults, on the credit-card
#     table of the anomaly benchmark (70/30 split, seed 0): fit time, `decision_function` rows/s
#     on the test rows, and ROC AUC for context.
# The wheel is built and installed as scripts/test-python.sh does; PyOD runs in the bench
# virtualenv (PyTorch), hourglass in the wheel's, each process alone on the machine.
# Usage: bench/python.sh [EPOCHS for Fashion-MNIST, default 5] [ROUNDS, default 3];
# FIT_ONLY=1 stops after the Fashion-MNIST comparison (no PyOD, no PyTorch needed).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-5}"
rounds="${2:-3}"
threads=$(nproc)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}"

data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist
fi
py_venv="${HOURGLASS_PY_VENV:-$HOME/.cache/hourglass-py-venv}"
[ -x "$py_venv/bin/python" ] || python3 -m venv "$py_venv"
"$py_venv/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.16,<2" numpy \
    pandas scikit-learn
wheels="$(mktemp -d)"
# The same crate features as the test build (scripts/test.sh), so both reuse one build of Burn.
"$py_venv/bin/maturin" build --release -q -m crates/hourglass-py/Cargo.toml -o "$wheels" --features wgpu
"$py_venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
    "$wheels"/*.whl
rm -rf "$wheels"
bench_venv="${HOURGLASS_BENCH_VENV:-$HOME/.cache/hourglass-bench-venv}"
if [ "${FIT_ONLY:-0}" != 1 ]; then
    [ -x "$bench_venv/bin/python" ] || python3 -m venv "$bench_venv"
    "$bench_venv/bin/python" -c "import pyod, torch, tqdm, pandas, sklearn" 2>/dev/null ||
        "$bench_venv/bin/pip" install -q pyod torch tqdm pandas scikit-learn
fi
# The binary as the test build makes it (same features; `cargo build -p hourglass-cli` alone
# would resolve Burn's features differently and compile it again).
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" cargo test --release -q --workspace \
    --features hourglass-cli/wgpu --no-run 2>/dev/null
hourglass="$CARGO_TARGET_DIR/release/hourglass"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"; }
now() { date +%s.%N; }

echo "== import time (s), median of 5 fresh interpreters"
modules=(hourglass torch); [ "${FIT_ONLY:-0}" = 1 ] && modules=(hourglass)
for module in "${modules[@]}"; do
    py="$py_venv/bin/python"; [ "$module" = torch ] && py="$bench_venv/bin/python"
    times=()
    for _ in 1 2 3 4 5; do
        t0=$(now); "$py" -c "import $module"; t1=$(now)
        times+=("$(python3 -c "print($t1 - $t0)")")
    done
    echo "import $module: $(median "${times[@]}") s (whole interpreter start included)"
done
t0=$(now); "$py_venv/bin/python" -c "pass"; t1=$(now)
echo "bare interpreter start: $(python3 -c "print(f'{$t1 - $t0:.3f}')") s"

echo
echo "== Fashion-MNIST, dense, $epochs epochs, seed 42, $threads threads, $rounds rounds alternated: CLI vs Python (s)"
cat >"$work/fit.py" <<EOF
import gzip, sys, time
import numpy as np
started = time.perf_counter()
import hourglass
raw = gzip.open("$data/train-images-idx3-ubyte.gz").read()
X = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32)
ae = hourglass.Autoencoder(model="dense", epochs=$epochs, random_state=42)
fit_started = time.perf_counter()
ae.fit(X)
fitted = time.perf_counter()
ae.save("$work/py.safetensors")
print(f"{fitted - fit_started:.3f} {time.perf_counter() - started:.3f}")
EOF
cli=(); fit=(); whole=()
for _ in $(seq "$rounds"); do
    t0=$(now)
    "$hourglass" train --data "$data" --split train --model dense --epochs "$epochs" --seed 42 \
        --out "$work/cli.safetensors" >/dev/null
    t1=$(now)
    cli+=("$(python3 -c "print($t1 - $t0)")")
    t0=$(now)
    read -r f w < <("$py_venv/bin/python" "$work/fit.py")
    t1=$(now)
    fit+=("$f"); whole+=("$(python3 -c "print($t1 - $t0)")")
done
c=$(median "${cli[@]}"); f=$(median "${fit[@]}"); w=$(median "${whole[@]}")
echo "hourglass train (whole process): $c s; Python process (import, load, fit, save): $w s;" \
    "Autoencoder.fit alone: $f s; Python / CLI: $(python3 -c "print(f'{$w / $c:.3f}')")"
echo "each round (CLI, fit, Python process): $(paste -d, <(printf '%s\n' "${cli[@]}") \
    <(printf '%s\n' "${fit[@]}") <(printf '%s\n' "${whole[@]}") | tr '\n' ' ')"
[ "${FIT_ONLY:-0}" = 1 ] && exit 0

echo
echo "== credit-card table (70/30, seed 0): AnomalyDetector vs PyOD AutoEncoder, defaults"
"$bench_venv/bin/python" - "$work" <<'EOF'
import sys
import numpy as np
from sklearn.model_selection import train_test_split
sys.path.insert(0, "bench")
from anomaly_data import creditcard
X, y, columns = creditcard()
tr, te, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
np.save(f"{sys.argv[1]}/train.npy", tr.astype(np.float32))
np.save(f"{sys.argv[1]}/test.npy", te.astype(np.float32))
np.save(f"{sys.argv[1]}/test_y.npy", yte)
print(f"train {tr.shape}, test {te.shape}, {yte.sum()} frauds in test")
EOF
cat >"$work/detect.py" <<'EOF'
import sys, time
import numpy as np
from sklearn.metrics import roc_auc_score
which, work, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
tr, te = np.load(f"{work}/train.npy"), np.load(f"{work}/test.npy")
y = np.load(f"{work}/test_y.npy")
if which == "hourglass":
    import hourglass
    model = hourglass.AnomalyDetector(random_state=0, n_threads=threads)
else:
    import torch
    torch.set_num_threads(threads)
    from pyod.models.auto_encoder import AutoEncoder
    model = AutoEncoder(random_state=0, verbose=0)
t0 = time.perf_counter()
model.fit(tr)
fit = time.perf_counter() - t0
rates = []
for _ in range(3):
    t0 = time.perf_counter()
    scores = model.decision_function(te)
    rates.append(len(te) / (time.perf_counter() - t0))
print(f"{which}: fit {fit:.1f} s, decision_function {np.median(rates):,.0f} rows/s, "
      f"ROC AUC {roc_auc_score(y, scores):.4f}")
EOF
"$py_venv/bin/python" "$work/detect.py" hourglass "$work" "$threads"
"$bench_venv/bin/python" "$work/detect.py" pyod "$work" "$threads"
