"""Scoring scaled out on an existing engine: a folder of Parquet files scored on a Dask
LocalCluster (2 worker processes, the model loaded once per worker), scores written back to
Parquet, equal to scoring in one process."""

import numpy as np
import pytest

import hourglass

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def test_dask_map_partitions_scores_like_one_process(tmp_path, cardio):
    X, _ = cardio
    det = hourglass.AnomalyDetector(ensemble=1, epochs=5, random_state=0).fit(X)
    model_path = tmp_path / "m.safetensors"
    det.save(model_path)
    folder = tmp_path / "rows"
    folder.mkdir()
    X = X.reset_index(drop=True)
    bounds = np.linspace(0, len(X), 5).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        X.iloc[a:b].to_parquet(folder / f"part-{i}.parquet")

    from hourglass.dask import score_partition

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with distributed.Client(cluster):
            frame = dd.read_parquet(str(folder))
            scored = frame.map_partitions(
                score_partition, str(model_path), meta={"score": "f8", "flagged": "i8"}
            )
            scored.to_parquet(str(tmp_path / "scores"))
    import pandas as pd

    out = pd.read_parquet(tmp_path / "scores").sort_index()
    np.testing.assert_allclose(out["score"].to_numpy(), det.decision_function(X), rtol=1e-5)
    # The loaded model flags by its stored automatic threshold, as `hourglass score` does.
    np.testing.assert_array_equal(out["flagged"].to_numpy(), hourglass.load(model_path).predict(X))
