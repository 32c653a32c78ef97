#!/usr/bin/env bash
# Side-by-side speed benchmark: hourglass (Burn flex) against PyTorch on the same CPU, same data,
# same models. Alternates the two implementations, then prints a table and one line per figure:
#   RATIO <model> <train|infer-b1|infer-b64|infer-b1024|rss|mse> <PyTorch cost / hourglass cost>
# (above 1 means hourglass is better). Usage: bench/run.sh [--quick] [--threads N] [--models "dense vae"]
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
threads=$(nproc)
models="dense conv2d vae conv1d"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --threads) threads="$2"; shift ;;
        --models) models="$2"; shift ;;
        *) echo "usage: bench/run.sh [--quick] [--threads N] [--models \"dense vae\"]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then rounds=1; steps=30; infer=1; else rounds=3; steps=200; infer=3; fi

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
bench_bin=$(cargo bench --bench speed --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "speed" and m.get("executable"):
        print(m["executable"])')

results=$(mktemp)
for model in $models; do
    for round in $(seq "$rounds"); do
        echo "round $round/$rounds: $model" >&2
        RAYON_NUM_THREADS=$threads "$bench_bin" --model "$model" --steps "$steps" \
            --infer-seconds "$infer" --data "$data" >> "$results"
        "$venv/bin/python" bench/torch_reference.py --model "$model" --steps "$steps" \
            --infer-seconds "$infer" --threads "$threads" --data "$data" >> "$results"
    done
done

python3 - "$results" "$threads" $models <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
threads = sys.argv[2]
models = sys.argv[3:]
def med(model, impl, get):
    return statistics.median(get(r) for r in rows if r["model"] == model and r["impl"] == impl)
figures = [
    ("train", "train step (ms)", lambda r: r["step_ms"], "lower"),
    ("infer-b1", "infer b1 (samples/s)", lambda r: r["infer_sps"]["1"], "higher"),
    ("infer-b64", "infer b64 (samples/s)", lambda r: r["infer_sps"]["64"], "higher"),
    ("infer-b1024", "infer b1024 (samples/s)", lambda r: r["infer_sps"]["1024"], "higher"),
    ("rss", "peak RSS (MiB)", lambda r: r["peak_rss_mib"], "lower"),
    ("mse", "test MSE, 1 epoch", lambda r: r["test_mse_1epoch"], "lower"),
]
torch_version = next(r["version"] for r in rows if r["impl"] == "pytorch")
print(f"threads: {threads}; PyTorch {torch_version}; medians of {len(rows) // (2 * len(models))} round(s)")
print(f"| model | figure | hourglass | PyTorch | ratio (PyTorch/hourglass cost) |")
print(f"|---|---|---|---|---|")
ratios = []
for model in models:
    for key, label, get, better in figures:
        h, t = med(model, "hourglass", get), med(model, "pytorch", get)
        ratio = t / h if better == "lower" else h / t
        print(f"| {model} | {label} | {h:.4g} | {t:.4g} | {ratio:.2f}x |")
        ratios.append(f"RATIO {model} {key} {ratio:.3f}")
print()
print("\n".join(ratios))
PY
rm -f "$results"
