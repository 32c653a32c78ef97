#!/usr/bin/env bash
# The whole `hourglass train` process against the minimal PyTorch program doing the same work
# (bench/e2e_torch.py: read the IDX file, hold out 10 %, train with Adam on batches of 256,
# validate every epoch, save), on the full Fashion-MNIST training set, in turns. Prints a table and
# one line per figure: RATIO <model> <figure> <PyTorch cost / hourglass cost> (above 1: hourglass
# is better). The time each epoch spends beyond its optimizer steps (batch assembly, shuffling,
# validation, logging) comes from both sides' per-epoch records.
# Usage: bench/e2e.sh [--avx2] [--rounds N] [--threads N] [--models "dense conv2d"] [--epochs "20 3"]
#   --epochs: one count per model (default 20 for dense, 3 for conv2d).
set -euo pipefail
cd "$(dirname "$0")/.."

avx2=0
rounds=2
threads=$(nproc)
models="dense conv2d"
epochs="20 3"
while [ $# -gt 0 ]; do
    case "$1" in
        --avx2) avx2=1 ;;
        --rounds) rounds="$2"; shift ;;
        --threads) threads="$2"; shift ;;
        --models) models="$2"; shift ;;
        --epochs) epochs="$2"; shift ;;
        *) echo "usage: bench/e2e.sh [--avx2] [--rounds N] [--threads N] [--models \"dense conv2d\"] [--epochs \"20 3\"]" >&2; exit 2 ;;
    esac
    shift
done

. bench/torch_env.sh
build_flags=(-p hourglass-cli --bin hourglass)
if [ "$avx2" = 1 ]; then
    build_flags+=(--no-default-features)
fi
cargo build --release "${build_flags[@]}" >&2
# A copy: a later build (with or without --avx2) replaces target/release/hourglass.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$CARGO_TARGET_DIR/release/hourglass" "$work/hourglass"
export RAYON_NUM_THREADS=$threads

results="$work/results.jsonl"
set -- $epochs
for model in $models; do
    count="$1"; shift || true
    latent=32; [ "$model" = conv2d ] && latent=16
    for round in $(seq "$rounds"); do
        echo "round $round/$rounds: $model, $count epochs" >&2
        rm -f "$work/h.safetensors" "$work/h.log" "$work/h.checkpoint"
        /usr/bin/time -f "%e %M" -o "$work/time" "$work/hourglass" train --data "$data" \
            --model "$model" --latent "$latent" --epochs "$count" --seed 42 \
            --log "$work/h.log" --out "$work/h.safetensors" --json > "$work/summary.json"
        python3 - "$model" "$work/time" "$work/h.log" >> "$results" <<'PY'
import json, sys
model, timing, log = sys.argv[1:]
wall, rss_kib = open(timing).read().split()
epochs = [json.loads(l) for l in open(log) if l.strip()]
print(json.dumps({"impl": "hourglass", "model": model, "wall": float(wall),
                  "rss_mib": int(rss_kib) / 1024, "epochs": epochs}))
PY
        /usr/bin/time -f "%e %M" -o "$work/time" "$venv/bin/python" bench/e2e_torch.py \
            --model "$model" --epochs "$count" --threads "$threads" --data "$data" \
            --out "$work/t.pt" > "$work/torch.json"
        python3 - "$model" "$work/time" "$work/torch.json" >> "$results" <<'PY'
import json, sys
model, timing, out = sys.argv[1:]
wall, rss_kib = open(timing).read().split()
record = json.load(open(out))
print(json.dumps({"impl": "pytorch", "model": model, "wall": float(wall),
                  "rss_mib": int(rss_kib) / 1024, "epochs": record["epochs"],
                  "version": record["version"]}))
PY
    done
done

python3 - "$results" "$threads" "$avx2" $models <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
threads, avx2, models = sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
simd = " ".join(f for f in flags if f in ("avx2", "fma") or f.startswith("avx512"))
version = next(r["version"] for r in rows if r["impl"] == "pytorch")
print(f"CPU: {cpu}; flags: {simd}; kernels: {'AVX2 (forced)' if avx2 else 'best available'}")
print(f"threads: {threads}; PyTorch {version}; medians of {len(rows) // (2 * len(models))} round(s)")

def per_epoch(r, key):
    return statistics.mean(e[key] for e in r["epochs"])

figures = [
    ("process", "whole process (s)", lambda r: r["wall"]),
    ("epoch", "one epoch (s)", lambda r: per_epoch(r, "seconds")),
    ("steps", "… in optimizer steps (s)", lambda r: per_epoch(r, "step_seconds")),
    ("validation", "… in validation (s)", lambda r: per_epoch(r, "validation_seconds")),
    ("other", "… the rest: batches, shuffling, logging (s)",
     lambda r: per_epoch(r, "seconds") - per_epoch(r, "step_seconds") - per_epoch(r, "validation_seconds")),
    ("outside", "outside the epochs: start, load, after-training work, save (s)",
     lambda r: r["wall"] - sum(e["seconds"] for e in r["epochs"])),
    ("rss", "peak RSS (MiB)", lambda r: r["rss_mib"]),
]
print("| model | figure | hourglass | PyTorch | ratio (PyTorch/hourglass) |")
print("|---|---|---|---|---|")
ratios = []
for model in models:
    for key, label, get in figures:
        h, t = (statistics.median(get(r) for r in rows if r["model"] == model and r["impl"] == impl)
                for impl in ("hourglass", "pytorch"))
        print(f"| {model} | {label} | {h:.3f} | {t:.3f} | {t / h:.2f}x |" if h > 0 else
              f"| {model} | {label} | {h:.3f} | {t:.3f} | — |")
        if h > 0:
            ratios.append(f"RATIO {model} {key} {t / h:.3f}")
    losses = {impl: statistics.median(r["epochs"][-1]["val_loss"] for r in rows
                                      if r["model"] == model and r["impl"] == impl)
              for impl in ("hourglass", "pytorch")}
    print(f"| {model} | last validation MSE | {losses['hourglass']:.5f} | {losses['pytorch']:.5f} | |")
print()
print("\n".join(ratios))
PY
