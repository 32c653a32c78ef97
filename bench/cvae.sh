#!/usr/bin/env bash
# Conditional VAE on full Fashion-MNIST, over the KL weight β: test MSE, held-out KL, and how
# often a nearest-class-centroid classifier (centroids of the 60,000 training images, in pixels)
# assigns decoded samples to the class they were decoded as. 30 codes from N(0, I), each decoded
# with all ten labels (`hourglass sample` without --class), 300 images per β. For scale, the
# same classifier on the 10,000 real test images.
# Usage: bench/cvae.sh [EPOCHS] [LATENT]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-20}"
latent="${2:-8}"
source bench/setup.sh
fm=/usr/share/datasets/fashion-mnist

accuracy() { # samples.npy → "overall per-class…"
    "$venv/bin/python" - "$fm" "$1" <<'PY'
import gzip, sys
import numpy as np
fm, path = sys.argv[1], sys.argv[2]
def idx(name, offset):
    return np.frombuffer(gzip.open(f"{fm}/{name}").read(), np.uint8, offset=offset)
x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32)
y = idx("train-labels-idx1-ubyte.gz", 8)
centroids = np.stack([x[y == k].mean(0) for k in range(10)])
def nearest(rows):
    return ((rows[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
if path == "real":
    rows = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32)
    labels = idx("t10k-labels-idx1-ubyte.gz", 8)
else:
    rows = np.load(path).reshape(-1, 784).astype(np.float32)
    labels = np.arange(len(rows)) % 10
hit = nearest(rows) == labels
print(f"{hit.mean():.3f} | " + " ".join(f"{hit[labels == k].mean():.2f}" for k in range(10)))
PY
}

echo "| β | test MSE | held-out KL | samples of the asked-for class | per class 0–9 |"
echo "|---|---|---|---|---|"
for beta in 1 2 4 8; do
    m="$work/cvae$beta.safetensors"
    "$hg" train --data "$fm" --model cvae --beta "$beta" --latent "$latent" --epochs "$epochs" \
        --val-split 0.1 --seed 1 --out "$m" > /dev/null
    mse=$("$hg" eval --model "$m" --data "$fm" --json | "$venv/bin/python" -c \
        "import json,sys; print(f\"{json.load(sys.stdin)['mse']:.5f}\")")
    kl=$(tail -n 1 "$work/cvae$beta.log.jsonl" | "$venv/bin/python" -c \
        "import json,sys; print(f\"{json.load(sys.stdin)['terms']['val_kl']:.2f}\")")
    "$hg" sample --model "$m" --n 300 --seed 11 --out "$work/samples$beta.npy" > /dev/null
    echo "| $beta | $mse | $kl | $(accuracy "$work/samples$beta.npy") |"
done
echo "| real test images | | | $(accuracy real) |"
