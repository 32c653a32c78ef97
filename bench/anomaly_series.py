"""Point-level anomaly scores on a real series, side by side (the MIT-BIH ECG from sktime).

Unsupervised over the whole series: every detector sees all 7,500 points, the anomalous segment
included, without labels. hourglass runs with its defaults (`train --model conv1d`, no window
given, then `score`, which writes one score per point). The peers score the same windows (the
window and stride hourglass chose), each window standardised position by position: PCA
reconstruction error (90 % of the variance), kNN distance (5th neighbour, the window itself
excluded), IsolationForest. A point takes the highest score of the windows covering it, as
hourglass does. Reports point-level ROC AUC and average precision, mean over seeds.

Usage: anomaly_series.py --hg BIN [--seeds 0,1,2] [--window W]
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, os.path.dirname(__file__))
from anomaly_data import mitdb  # noqa: E402


def model_window(path):
    """(window, stride) from a model file's metadata (the safetensors JSON header)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    arch = json.loads(header["__metadata__"]["config"])["architecture"]
    return arch["window"], arch["stride"]


def points(window_scores, steps, window, stride):
    out = np.full(steps, -np.inf)
    for w, s in enumerate(window_scores):
        a = w * stride
        out[a:a + window] = np.maximum(out[a:a + window], s)
    out[out == -np.inf] = window_scores[-1]
    return out


def peers(series, window, stride, seed):
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import NearestNeighbors

    starts = range(0, len(series) - window + 1, stride)
    X = np.stack([series[a:a + window] for a in starts])
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    pca = PCA(n_components=0.9, random_state=seed).fit(X)
    knn = NearestNeighbors(n_neighbors=6).fit(X)
    return {
        "pca": ((X - pca.inverse_transform(pca.transform(X))) ** 2).sum(1),
        "knn": knn.kneighbors(X)[0][:, -1],
        "iforest": -IsolationForest(n_estimators=100, random_state=seed).fit(X).score_samples(X),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hg", required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--window", default=None, help="give hourglass this window instead of its default")
    args = ap.parse_args()
    series, labels = mitdb()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as work:
            csv, model, out = (os.path.join(work, n) for n in ("s.csv", "m.safetensors", "p.csv"))
            np.savetxt(csv, series, header="ecg", comments="", fmt="%.6g")
            t0 = time.perf_counter()
            extra = ["--window", args.window] if args.window else []
            subprocess.run([args.hg, "train", "--data", csv, "--model", "conv1d", "--seed", str(seed),
                            "--out", model, *extra], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([args.hg, "score", "--model", model, "--data", csv, "--out", out],
                           check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - t0
            hg = np.loadtxt(out, delimiter=",", skiprows=1, usecols=1)
            window, stride = model_window(model)
        result = {"hourglass": (hg, seconds)}
        for name, s in peers(series, window, stride, seed).items():
            result[name] = (points(s, len(series), window, stride), None)
        for name, (s, secs) in result.items():
            row = {"seed": seed, "detector": name, "window": window, "stride": stride,
                   "auroc": roc_auc_score(labels, s), "ap": average_precision_score(labels, s),
                   "seconds": secs}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    names = list(dict.fromkeys(r["detector"] for r in rows))
    print(f"\nMIT-BIH, point-level, window {rows[0]['window']} every {rows[0]['stride']} "
          f"(hourglass's default), mean over seeds\n")
    print("| detector | ROC AUC | average precision |")
    print("|---|---|---|")
    for n in names:
        a = np.mean([r["auroc"] for r in rows if r["detector"] == n])
        p = np.mean([r["ap"] for r in rows if r["detector"] == n])
        print(f"| {n} | {a:.3f} | {p:.3f} |")


if __name__ == "__main__":
    main()
