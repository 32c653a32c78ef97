"""ONNX export: onnxruntime, running the exported graph on raw rows, gives hourglass's own numbers
(dense, conv2d and conv1d models; every score kind, conv2d's features too; an ensemble; the non-ReLU activations and a
VAE), and the file passes ONNX's own checker."""

import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import hourglass

KINDS = ["mse", "normalized", "mahalanobis", "knn", "combined"]


def run_onnx(data, rows):
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": np.ascontiguousarray(rows, dtype=np.float32)})
    return out


def assert_close(actual, expected):
    """Within 1e-4, relative to each value or, for values near zero (standardised scores cross
    it), to the largest value."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(expected).max(), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.fixture(scope="module")
def dense(cardio):
    X, _ = cardio
    X = X.to_numpy(dtype=np.float32)
    model = hourglass.Autoencoder(epochs=3, random_state=0, n_threads=2).fit(X)
    return model, X


@pytest.mark.parametrize("kind", KINDS)
def test_dense_scores_match(dense, kind):
    model, X = dense
    model.set_params(score=kind)
    try:
        assert_close(run_onnx(model.to_onnx(), X), model.decision_scores(X))
    finally:
        model.set_params(score=None)


def test_dense_codes_and_reconstructions_match(dense, tmp_path):
    model, X = dense
    path = tmp_path / "codes.onnx"
    model.to_onnx(path, output="encode")
    assert_close(run_onnx(path.read_bytes(), X), model.transform(X))
    assert_close(run_onnx(model.to_onnx(output="reconstruct"), X), model.reconstruct(X))


def test_the_default_score_is_the_models_own(dense):
    model, X = dense
    graph = onnx.load_from_string(model.to_onnx())
    metadata = {p.key: p.value for p in graph.metadata_props}
    assert metadata["hourglass.score"] == model.model_.default_score
    # The batch axis is free: one row and many rows both run.
    assert run_onnx(model.to_onnx(), X[:1]).shape == (1,)


def test_an_ensemble_averages_its_networks_as_hourglass_does(cardio):
    X = cardio[0].to_numpy(dtype=np.float32)[:600]
    model = hourglass.Autoencoder(epochs=2, ensemble=3, random_state=1, n_threads=2).fit(X)
    assert_close(run_onnx(model.to_onnx(), X), model.decision_scores(X))


@pytest.mark.parametrize(
    "activation,beta", [("gelu", None), ("leaky_relu", None), ("tanh", None), ("sigmoid", 1.0)]
)
def test_other_activations_and_a_vae_match(cardio, activation, beta):
    X = cardio[0].to_numpy(dtype=np.float32)[:500]
    model = hourglass.Autoencoder(
        epochs=2, activation=activation, beta=beta, random_state=2, n_threads=2
    ).fit(X)
    assert_close(run_onnx(model.to_onnx(output="reconstruct"), X), model.reconstruct(X))
    assert_close(run_onnx(model.to_onnx(output="encode"), X), model.transform(X))


def test_conv2d_on_odd_sized_colour_images_matches():
    rng = np.random.default_rng(3)
    # Smooth colour images, 19 × 22: odd and even sides exercise the transposed convolutions'
    # output padding.
    base = rng.uniform(0, 255, size=(96, 3, 5, 6))
    images = np.kron(base, np.ones((1, 1, 4, 4)))[:, :, :19, :22].astype(np.float32)
    model = hourglass.Autoencoder(
        model="conv2d", channels=[8, 16], latent=8, epochs=2, random_state=3, n_threads=2
    ).fit(images)
    rows = images.reshape(len(images), -1)
    # The default score of a conv2d model on images is the feature maps' distance.
    assert model.model_.default_score == "features"
    assert_close(run_onnx(model.to_onnx(), rows), model.decision_scores(images))
    model.set_params(score="combined")
    assert_close(run_onnx(model.to_onnx(), rows), model.decision_scores(images))
    model.set_params(score=None)
    assert_close(run_onnx(model.to_onnx(output="reconstruct"), rows), model.reconstruct(images))
    assert_close(run_onnx(model.to_onnx(output="encode"), rows), model.transform(images))


def test_conv1d_on_windows_of_a_series_matches():
    t = np.arange(3000, dtype=np.float32)
    series = np.stack([np.sin(t / 7), np.cos(t / 11) + 0.1 * np.sin(t / 3)], axis=1)
    model = hourglass.Autoencoder(
        model="conv1d", window=30, latent=6, epochs=2, random_state=4, n_threads=2
    ).fit(series)
    core = model.model_
    channels, _, window = core.input_shape
    # Windows as hourglass cuts them: channel-major, every 10 steps.
    starts = range(0, len(series) - window + 1, 10)
    windows = np.stack([series[s : s + window].T.reshape(-1) for s in starts])
    assert windows.shape[1] == channels * window
    assert_close(run_onnx(core.to_onnx("score"), windows), core.score(windows))
    assert_close(run_onnx(core.to_onnx("reconstruct"), windows), core.reconstruct(windows))


@pytest.mark.parametrize("sparsity", ["l1:0.001", "kl:0.1:0.1"])
def test_a_sparse_model_exported_by_the_cli_matches(tmp_path, cardio, hourglass_binary, sparsity):
    X = cardio[0].iloc[:500]
    table = tmp_path / "rows.csv"
    X.to_csv(table, index=False)
    model, graph = tmp_path / "sparse.safetensors", tmp_path / "sparse.onnx"
    for args in [
        ["train", "--data", table, "--hidden", "16", "--latent", "4", "--sparsity", sparsity,
         "--epochs", "2", "--out", model],
        ["export", "--model", model, "--out", graph, "--output", "encode"],
    ]:
        subprocess.run([hourglass_binary, *args], check=True, capture_output=True)
    rows = X.to_numpy(dtype=np.float32)
    detector = hourglass.load(model)
    assert_close(run_onnx(graph.read_bytes(), rows), detector.transform(rows))
    assert_close(run_onnx(detector.to_onnx(), rows), detector.decision_scores(rows))


def test_a_model_the_export_cannot_represent_is_refused(cardio):
    X = cardio[0].to_numpy(dtype=np.float32)[:200]
    model = hourglass.Autoencoder(epochs=1, random_state=0, n_threads=2).fit(X)
    with pytest.raises(ValueError, match="unknown ONNX output"):
        model.to_onnx(output="logits")
