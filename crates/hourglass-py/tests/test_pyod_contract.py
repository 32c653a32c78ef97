"""PyOD's detector contract on the shipped cardio table, and what the detector is worth there."""

import numpy as np
import pytest

import hourglass


@pytest.fixture(scope="module")
def fitted(cardio):
    X, y = cardio
    return hourglass.AnomalyDetector(contamination=0.1, random_state=0).fit(X), X, y


def test_fitted_attributes_follow_pyod(fitted):
    det, X, _ = fitted
    n = len(X)
    assert det.decision_scores_.shape == (n,)
    assert det.labels_.shape == (n,) and set(np.unique(det.labels_)) <= {0, 1}
    # contamination: that fraction of the training data lies above threshold_.
    assert abs(det.labels_.mean() - 0.1) < 0.01
    np.testing.assert_array_equal(det.predict(X), det.labels_)
    np.testing.assert_allclose(det.decision_function(X), det.decision_scores_, rtol=1e-6)


def test_predict_proba_is_two_columns_of_probabilities(fitted):
    det, X, _ = fitted
    for method in ["linear", "unify"]:
        p = det.predict_proba(X, method=method)
        assert p.shape == (len(X), 2)
        assert np.all((p >= 0) & (p <= 1))
        np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_scores_separate_the_labelled_anomalies(fitted):
    det, _, y = fitted
    from hourglass_testing import roc_auc

    assert roc_auc(det.decision_scores_, y) > 0.85


def test_automatic_threshold_without_contamination(cardio):
    X, _ = cardio
    det = hourglass.AnomalyDetector(contamination=None, ensemble=1, random_state=0).fit(X)
    assert "auto" in det.threshold_rule_
    assert 0.005 <= det.labels_.mean() <= 0.10
