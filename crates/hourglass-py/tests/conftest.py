import pathlib

import numpy as np
import pandas as pd
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def cardio():
    """The shipped cardiotocography table (ODDS 'cardio'): 21 columns, `anomaly` 0/1."""
    table = pd.read_csv(REPO / "data" / "cardio" / "cardio.csv")
    return table.drop(columns=["anomaly"]), table["anomaly"].to_numpy()


@pytest.fixture(scope="session")
def hourglass_binary():
    import os

    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/hourglass-target"))
    path = pathlib.Path(target) / "release" / "hourglass"
    assert path.exists(), f"{path}: build the CLI first (cargo build --release)"
    return path


def small_blobs(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32)
