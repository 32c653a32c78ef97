"""Batch scoring on engines that map a function over partitions of a table: Dask
(`ddf.map_partitions`), Ray Data (`ds.map_batches(..., batch_format="pandas")`) and Spark
(`df.mapInPandas`). Each worker process loads the model once and scores its partitions with it.

    import dask.dataframe as dd
    from hourglass.dask import score_partition
    scores = dd.read_parquet("rows/").map_partitions(
        score_partition, "model.safetensors", meta={"score": "f8", "flagged": "i8"})
    scores.to_parquet("scores/")
"""

from functools import lru_cache


@lru_cache(maxsize=4)
def _model(path, n_threads):
    import hourglass

    return hourglass.load(path, n_threads=n_threads)


def score_partition(frame, model_path, columns=None, n_threads=1):
    """Scores one partition (a pandas DataFrame): returns a frame with the same index and the
    columns `score` (higher = more anomalous) and `flagged` (1 above the model's threshold).
    `columns` picks the feature columns (default: all)."""
    import pandas as pd

    det = _model(str(model_path), n_threads)
    X = frame if columns is None else frame[list(columns)]
    scores = det.decision_function(X.to_numpy())
    return pd.DataFrame(
        {"score": scores, "flagged": (scores > det.threshold_).astype("int64")}, index=frame.index
    )
