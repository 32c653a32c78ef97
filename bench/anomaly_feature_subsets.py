"""Experiment behind BENCHMARKS.md "the last two directions for creditcard": ensemble members
trained on random column subsets ("feature bagging", Lazarevic & Kumar 2005) against the default
members, which all see every column.

Same tables, splits and protocol as anomaly_tables.py. For each table and seed it trains, with
`hourglass train --ensemble 1`, five networks on all columns (seeds S … S+4, as the built-in
ensemble does) and five on random subsets of between LOW·d and d−1 columns; scores test rows
with the default `knn` score, puts each network's scores on its own training median and MAD, and
prints the mean ROC AUC of several ways of averaging them. "5 on all columns" through this
harness checks it against the built-in default.

Usage: anomaly_feature_subsets.py --hg BIN [--low 0.5] [--seeds 0,1,2] [--tables cardio,wbc]
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(__file__))
from anomaly_data import TABLES  # noqa: E402
from anomaly_tables import read_scores, write_csv  # noqa: E402

MEMBERS = 5


def standardised_scores(hg, seed, train, test, columns):
    """One network on these columns: its test scores on its training median and MAD."""
    with tempfile.TemporaryDirectory() as work:
        tr, te, model = (os.path.join(work, f) for f in ("tr.csv", "te.csv", "m.safetensors"))
        write_csv(tr, train, columns)
        write_csv(te, test, columns)
        run = lambda *a: subprocess.run([hg, *a], check=True, stdout=subprocess.DEVNULL)  # noqa: E731
        run("train", "--data", tr, "--seed", str(seed), "--ensemble", "1", "--out", model)
        scores = {}
        for name, data in (("train", tr), ("test", te)):
            out = os.path.join(work, name + "_scores.csv")
            run("score", "--model", model, "--data", data, "--out", out, "--score", "knn")
            scores[name] = read_scores(out)
    median = np.median(scores["train"])
    mad = 1.4826 * np.median(np.abs(scores["train"] - median)) or 1e-12
    return (scores["test"] - median) / mad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hg", required=True)
    ap.add_argument("--low", type=float, default=0.5, help="smallest subset, a fraction of the columns")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tables", default=",".join(TABLES))
    args = ap.parse_args()
    combos = {
        "5 on all columns": lambda f, s: np.mean(f, axis=0),
        "5 on subsets": lambda f, s: np.mean(s, axis=0),
        "5 on all + 5 on subsets": lambda f, s: np.mean(f + s, axis=0),
        "3 on all + 2 on subsets": lambda f, s: np.mean(f[:3] + s[:2], axis=0),
    }
    auroc = {name: {} for name in combos}
    for table in args.tables.split(","):
        X, y, columns = TABLES[table]()
        d = X.shape[1]
        for seed in (int(s) for s in args.seeds.split(",")):
            tr, te, _, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
            rng = np.random.default_rng(1000 + seed)
            full, subsets = [], []
            for m in range(MEMBERS):
                full.append(standardised_scores(args.hg, seed + m, tr, te, columns))
            for m in range(MEMBERS):
                k = int(rng.integers(max(1, int(d * args.low)), d)) if d > 2 else d
                cols = np.sort(rng.choice(d, size=k, replace=False))
                names = [columns[i] for i in cols]
                subsets.append(standardised_scores(args.hg, seed + m, tr[:, cols], te[:, cols], names))
            for name, combine in combos.items():
                auroc[name].setdefault(table, []).append(roc_auc_score(yte, combine(full, subsets)))
            print(f"{table} seed {seed} done", file=sys.stderr, flush=True)
    tables = args.tables.split(",")
    print("| members | " + " | ".join(tables) + " | mean |")
    print("|---|" + "---|" * (len(tables) + 1))
    for name, by_table in auroc.items():
        means = [float(np.mean(by_table[t])) for t in tables]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + f" | {np.mean(means):.3f} |")


if __name__ == "__main__":
    main()
