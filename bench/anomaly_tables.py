"""Side-by-side anomaly detection on real tables (ADBench's unsupervised protocol).

For each table and seed: a 70/30 split stratified by the seed; every detector fits on the 70 %
(anomalies included, no labels) and scores the 30 %. The peers get columns standardised on the
70 %; hourglass gets the raw CSV, as a user would hand it over, and runs with its defaults
(`hourglass train`, then `hourglass score`). Prints one JSON line per (table, seed, detector) to
--results and a Markdown summary (mean ROC AUC and average precision over the seeds, wall time).

Usage: anomaly_tables.py --hg BIN [--seeds 0,1,2] [--tables cardio,wbc] [--only hourglass,iforest]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(__file__))
from anomaly_data import TABLES  # noqa: E402

PEERS = ["hourglass", "iforest", "knn", "pca", "pyod_ae", "ecod", "hourglass_0.1"]
# The defaults of hourglass 0.1 (before the table recipe and score kinds), for the before/after.
OLD_DEFAULTS = ["--latent", "32", "--hidden", "256,64", "--epochs", "10", "--batch-size", "256"]
# Every score kind, from the same trained model, reported as hourglass[KIND].
SCORE_KINDS = ["mse", "normalized", "mahalanobis", "knn", "combined"]


def peer(name, seed, train, test):
    """Fits a peer on standardised training rows; returns test scores (higher = more anomalous)."""
    if name == "iforest":
        from sklearn.ensemble import IsolationForest

        m = IsolationForest(n_estimators=100, random_state=seed).fit(train)
        return -m.score_samples(test)
    if name == "knn":
        from sklearn.neighbors import NearestNeighbors

        # Distance to the 5th nearest training row (PyOD's KNN 'largest'), one's own row excluded
        # only on the training side, which is not scored here.
        m = NearestNeighbors(n_neighbors=5, n_jobs=-1).fit(train)
        return m.kneighbors(test)[0][:, -1]
    if name == "pca":
        from sklearn.decomposition import PCA

        # Reconstruction error with the components that keep 90 % of the variance. (PyOD's PCA
        # with its defaults divides by near-zero eigenvalues on these tables and scores inf.)
        m = PCA(n_components=0.9, random_state=seed).fit(train)
        return ((test - m.inverse_transform(m.transform(test))) ** 2).sum(axis=1)
    if name == "pyod_ae":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(random_state=seed, verbose=0).fit(train).decision_function(test)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD().fit(train).decision_function(test)
    raise ValueError(name)


def write_csv(path, X, columns):
    with open(path, "w") as f:
        f.write(",".join(c.replace(",", " ") for c in columns) + "\n")
        np.savetxt(f, X, delimiter=",", fmt="%.10g")


def read_scores(path):
    with open(path) as f:
        col = f.readline().strip().split(",").index("score")
        return np.array([float(line.split(",")[col]) for line in f])


def hourglass(hg, extra, seed, train, test, columns, work, kinds=(), score_args=()):
    """Trains with `extra`, scores with the model's default (timed) and then with each of `kinds`;
    returns the default scores, the seconds for train + default score, and {kind: scores}."""
    train_csv, test_csv = os.path.join(work, "train.csv"), os.path.join(work, "test.csv")
    model, scores = os.path.join(work, "model.safetensors"), os.path.join(work, "scores.csv")
    write_csv(train_csv, train, columns)
    write_csv(test_csv, test, columns)
    t0 = time.perf_counter()
    subprocess.run([hg, "train", "--data", train_csv, "--seed", str(seed), "--out", model, *extra],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([hg, "score", "--model", model, "--data", test_csv, "--out", scores, *score_args],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    default = read_scores(scores)
    by_kind = {}
    for kind in kinds:
        subprocess.run([hg, "score", "--model", model, "--data", test_csv, "--out", scores,
                        "--score", kind], check=True, stdout=subprocess.DEVNULL)
        by_kind[kind] = read_scores(scores)
    return default, seconds, by_kind


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hg", required=True)
    ap.add_argument("--hg-args", default="", help="extra arguments for `hourglass train`")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--only", default=",".join(PEERS))
    ap.add_argument("--results", default=None)
    ap.add_argument("--summarise", default=None, help="only print the tables of a results file")
    args = ap.parse_args()
    if args.summarise:
        summarise([json.loads(line) for line in open(args.summarise)])
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    detectors = args.only.split(",")
    rows = []
    out = open(args.results, "a") if args.results else None
    for table in args.tables.split(","):
        X, y, columns = TABLES[table]()
        for seed in seeds:
            tr, te, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
            scaler = StandardScaler().fit(tr)
            str_, ste = scaler.transform(tr), scaler.transform(te)
            for det in detectors:
                t0 = time.perf_counter()
                extra = {}
                if det == "hourglass":
                    with tempfile.TemporaryDirectory() as work:
                        s, secs, extra = hourglass(args.hg, args.hg_args.split(), seed, tr, te,
                                                   columns, work, kinds=SCORE_KINDS)
                elif det == "hourglass_0.1":
                    with tempfile.TemporaryDirectory() as work:
                        s, secs, _ = hourglass(args.hg, OLD_DEFAULTS, seed, tr, te, columns, work,
                                               score_args=["--score", "mse"])
                else:
                    s = peer(det, seed, str_, ste)
                    secs = time.perf_counter() - t0
                results = [(det, s, secs)] + [(f"hourglass[{k}]", v, None) for k, v in extra.items()]
                for name, scores, seconds in results:
                    row = {"table": table, "seed": seed, "detector": name,
                           "auroc": roc_auc_score(yte, scores),
                           "ap": average_precision_score(yte, scores), "seconds": seconds}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    if out:
                        print(json.dumps(row), file=out, flush=True)
    summarise(rows)


def summarise(rows):
    tables = list(dict.fromkeys(r["table"] for r in rows))
    everything = list(dict.fromkeys(r["detector"] for r in rows))

    def mean(t, d, key):
        v = [r[key] for r in rows if r["table"] == t and r["detector"] == d and r[key] is not None]
        return float(np.mean(v)) if v else float("nan")

    for key, title in [("auroc", "ROC AUC"), ("ap", "average precision"), ("seconds", "seconds (fit + score)")]:
        detectors = [d for d in everything if key != "seconds" or not d.startswith("hourglass[")]
        print(f"\n{title}, mean over seeds\n")
        print("| table | " + " | ".join(detectors) + " |")
        print("|---|" + "---|" * len(detectors))
        for t in tables:
            fmt = "{:.2f}" if key == "seconds" else "{:.3f}"
            print(f"| {t} | " + " | ".join(fmt.format(mean(t, d, key)) for d in detectors) + " |")
        if key != "seconds":
            print("| **mean** | " + " | ".join(
                f"**{np.mean([mean(t, d, key) for t in tables]):.3f}**" for d in detectors) + " |")


if __name__ == "__main__":
    main()
