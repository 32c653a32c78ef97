#!/usr/bin/env python3
"""Exports scikit-learn's bundled data sets (no download: they ship inside the package) to files
hourglass reads. Usage: export_sklearn.py OUT_DIR

- digits-images.npy: 1797 × 8 × 8 uint8 (the 0–16 intensities × 16, capped at 255), and
  digits-labels.npy: the digit of each image;
- wine.csv, breast_cancer.csv: the features with a header and a `target` column.
"""
import os
import sys

import numpy as np
from sklearn import datasets

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
digits = datasets.load_digits()
np.save(os.path.join(out, "digits-images.npy"),
        np.minimum(digits.images * 16, 255).astype(np.uint8))
np.save(os.path.join(out, "digits-labels.npy"), digits.target.astype(np.int64).astype(np.float64))
for name, loader in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer)):
    bunch = loader()
    header = ",".join(n.replace(" ", "_").replace(",", "") for n in bunch.feature_names) + ",target"
    rows = np.column_stack([bunch.data, bunch.target])
    np.savetxt(os.path.join(out, f"{name}.csv"), rows, delimiter=",", header=header,
               comments="", fmt="%.6g")
print(f"wrote digits, wine and breast_cancer to {out}")
