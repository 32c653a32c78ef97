"""scikit-learn conventions: parameters, cloning, pipelines, grid search, the estimator checks."""

import numpy as np
import pytest

import hourglass
from conftest import small_blobs

FAST = dict(epochs=3, ensemble=1, random_state=0)


def test_fit_transform_inverse_and_reconstruct_have_the_documented_shapes():
    X = small_blobs()
    ae = hourglass.Autoencoder(latent=3, **FAST).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (300, 3) and Z.dtype == np.float32
    assert ae.inverse_transform(Z).shape == (300, 6)
    R = ae.reconstruct(X)
    assert R.shape == X.shape
    # Reconstructions are in the data's units: closer to X than X's mean row is.
    assert np.mean((R - X) ** 2) < np.mean((X - X.mean(0)) ** 2)
    assert ae.score_samples(X).shape == (300,)
    assert ae.n_features_in_ == 6


def test_float64_fortran_order_and_float32_give_the_same_codes():
    X = small_blobs()
    ae = hourglass.Autoencoder(latent=2, **FAST).fit(X)
    a = ae.transform(X)
    b = ae.transform(np.asfortranarray(X.astype(np.float64)))
    np.testing.assert_array_equal(a, b)


def test_same_random_state_same_model():
    X = small_blobs()
    a = hourglass.Autoencoder(**FAST).fit(X).transform(X)
    b = hourglass.Autoencoder(**FAST).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_bad_input_is_a_value_error_with_the_reason():
    X = small_blobs()
    ae = hourglass.Autoencoder(**FAST).fit(X)
    with pytest.raises(ValueError, match="expecting 6 features"):
        ae.transform(X[:, :4])
    with pytest.raises(ValueError, match="infinite"):
        hourglass.Autoencoder(**FAST).fit(np.where(X > 2, np.inf, X))
    with pytest.raises(ValueError, match="numeric"):
        ae.transform(np.array([["a"] * 6]))
    with pytest.raises(ValueError, match="unknown model"):
        hourglass.Autoencoder(model="transformer", **FAST).fit(X)
    with pytest.raises(ValueError, match="not fitted"):
        hourglass.Autoencoder().transform(X)


def test_dataframe_columns_are_kept_and_checked(cardio):
    X, _ = cardio
    ae = hourglass.Autoencoder(**FAST).fit(X)
    assert list(ae.feature_names_in_) == list(X.columns)
    ae.transform(X)
    with pytest.raises(ValueError, match="columns"):
        ae.transform(X[X.columns[::-1]])


def test_images_train_the_conv_model():
    rng = np.random.default_rng(1)
    images = rng.random((64, 1, 12, 12)).astype(np.float32)
    ae = hourglass.Autoencoder(model="conv2d", latent=4, channels=[4, 8], **FAST).fit(images)
    assert ae.transform(images).shape == (64, 4)
    assert ae.reconstruct(images[:, 0]).shape == (64, 144)


def test_params_clone_pipeline_and_grid_search():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ae = hourglass.Autoencoder(latent=2, **FAST)
    assert ae.get_params()["latent"] == 2
    twin = clone(ae)
    assert twin.get_params() == ae.get_params() and twin is not ae
    X = small_blobs()
    pipe = make_pipeline(StandardScaler(), hourglass.Autoencoder(latent=2, **FAST)).fit(X)
    assert pipe.transform(X).shape == (300, 2)

    # Grid search by reconstruction error on the held-out fold: a wider code reconstructs better.
    def scorer(est, X, y=None):
        return -float(np.mean((est.reconstruct(X) - X) ** 2))

    grid = GridSearchCV(hourglass.Autoencoder(**FAST), {"latent": [1, 4]}, scoring=scorer, cv=2)
    grid.fit(X)
    assert grid.best_params_ == {"latent": 4}
    assert sklearn.__version__


# Checks that do not apply, with the reason (an autoencoder is unsupervised and
# non-linear; these checks assume other estimator kinds).
SKIPPED = {
    # check_estimator fits on a handful of rows and compares with a tolerance meant for
    # deterministic closed-form estimators; our float32 network is seeded but not bitwise
    # order-independent across batch sizes.
    "check_methods_sample_order_invariance": "batched float32 forward passes round differently by position",
    "check_methods_subset_invariance": "batched float32 forward passes round differently by position",
    "check_fit_idempotent": "see above: scores equal only to float32 rounding",
    "check_transformer_preserve_dtypes": "codes are always float32 (the library's type)",
    "check_estimators_dtypes": "integer inputs are converted to float32, by design",
    "check_n_features_in_after_fitting": "covered by our own test; its messages differ",
    # AnomalyDetector follows PyOD: predict gives 1 for an anomaly and 0 otherwise, where
    # scikit-learn's outlier detectors give -1 and 1.
    "check_outliers_fit_predict": "PyOD's 0/1 labels, not scikit-learn's -1/1",
    "check_outliers_train": "PyOD's 0/1 labels, not scikit-learn's -1/1",
}


def test_applicable_scikit_learn_estimator_checks():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    failures = []
    for est in [hourglass.Autoencoder(**FAST), hourglass.AnomalyDetector(**FAST)]:
        results = check_estimator(est, on_fail=None, expected_failed_checks=SKIPPED)
        for r in results:
            if r["status"] == "failed" and r["check_name"] not in SKIPPED:
                failures.append(f"{type(est).__name__}: {r['check_name']}: {r['exception']}")
    assert not failures, "\n".join(failures)
