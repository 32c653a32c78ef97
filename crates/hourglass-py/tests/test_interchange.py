"""One model file for both fronts: trained in Python, scored by the CLI, and the other way round."""

import json
import subprocess

import numpy as np

import hourglass


def test_python_model_scored_by_the_cli_and_cli_model_by_python(tmp_path, cardio, hourglass_binary):
    X, _ = cardio
    X = X.iloc[:400]
    det = hourglass.AnomalyDetector(ensemble=1, epochs=5, random_state=0).fit(X)
    path = tmp_path / "py.safetensors"
    det.save(path)
    table = tmp_path / "rows.csv"
    X.to_csv(table, index=False)
    scores_csv = tmp_path / "scores.csv"
    subprocess.run(
        [hourglass_binary, "score", "--model", path, "--data", table, "--out", scores_csv],
        check=True,
        capture_output=True,
    )
    import pandas as pd

    cli = pd.read_csv(scores_csv)["score"].to_numpy()
    np.testing.assert_allclose(cli, det.decision_function(X), rtol=1e-4, atol=1e-6)

    # A model trained by the CLI loads in Python and gives the CLI's scores.
    cli_model = tmp_path / "cli.safetensors"
    subprocess.run(
        [hourglass_binary, "train", "--data", table, "--epochs", "3", "--ensemble", "1", "--out", cli_model],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [hourglass_binary, "score", "--model", cli_model, "--data", table, "--out", scores_csv],
        check=True,
        capture_output=True,
    )
    loaded = hourglass.load(cli_model)
    np.testing.assert_allclose(
        loaded.decision_function(X), pd.read_csv(scores_csv)["score"].to_numpy(), rtol=1e-4, atol=1e-6
    )
    assert loaded.summary_["training"]["epochs_run"] == 3
