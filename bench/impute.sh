#!/usr/bin/env bash
# Imputation, measured: remove 20 % of the entries of a real table at random, train on the gappy
# table (masked loss, masking noise 0.2), fill the gaps with `hourglass impute`, and compare with
# the truth: RMSE in units of each column's standard deviation, next to filling column means.
# Tables: the shipped wine data, and scikit-learn's digits as a 64-column table.
# Usage: bench/impute.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh
"$venv/bin/python" bench/export_sklearn.py "$work" > /dev/null
"$venv/bin/python" - "$work" <<'PY'
import numpy as np, sys
d = sys.argv[1]
x = np.load(f"{d}/digits-images.npy").reshape(-1, 64).astype(float) / 16
np.savetxt(f"{d}/digits.csv", x, delimiter=",", header=",".join(f"p{i}" for i in range(64)),
           comments="", fmt="%.6g")
PY
cp data/wine/wine.csv "$work/wine.csv"

echo "| table | rows × columns | hidden entries | autoencoder RMSE | column-mean RMSE |"
echo "|---|---|---|---|---|"
for table in wine digits; do
    label=(); [ "$table" = wine ] && label=(--label-column target)
    "$venv/bin/python" - "$work/$table.csv" "$work/$table-gappy.csv" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(20)
lines = open(sys.argv[1]).read().splitlines()
header, rows = lines[0], [l.split(",") for l in lines[1:]]
features = [i for i, name in enumerate(header.split(",")) if name != "target"]
for row in rows:
    for i in features:
        if rng.random() < 0.2:
            row[i] = ""
open(sys.argv[2], "w").write("\n".join([header] + [",".join(r) for r in rows]) + "\n")
PY
    if [ "$table" = wine ]; then shape=(--latent 6 --hidden 32 --epochs 300 --batch-size 32)
    else shape=(--latent 16 --hidden 128 --epochs 100 --batch-size 64); fi
    "$hg" train --data "$work/$table-gappy.csv" "${label[@]}" "${shape[@]}" --val-split 0 \
        --noise masking:0.2 --out "$work/$table.safetensors" > /dev/null
    "$hg" impute --model "$work/$table.safetensors" --data "$work/$table-gappy.csv" "${label[@]}" \
        --out "$work/$table-filled.csv" > /dev/null
    "$venv/bin/python" - "$work/$table.csv" "$work/$table-gappy.csv" "$work/$table-filled.csv" "$table" <<'PY'
import numpy as np, sys
def load(path):
    lines = open(path).read().splitlines()
    names = lines[0].split(",")
    keep = [i for i, n in enumerate(names) if n not in ("target", "label")]
    rows = [[float(c) if c else np.nan for c in l.split(",")] for l in lines[1:]]
    return np.array(rows)[:, keep]
truth, gappy, filled = (load(p) for p in sys.argv[1:4])
hidden = np.isnan(gappy)
std = truth.std(axis=0); std[std == 0] = 1
means = np.nanmean(gappy, axis=0)
mean_fill = np.where(hidden, means, gappy)
rmse = lambda f: np.sqrt(np.mean((((f - truth) / std)[hidden]) ** 2))
print(f"| {sys.argv[4]} | {truth.shape[0]} × {truth.shape[1]} | {hidden.sum()} | "
      f"{rmse(filled):.4f} | {rmse(mean_fill):.4f} |")
PY
done
