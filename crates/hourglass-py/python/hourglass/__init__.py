"""hourglass: autoencoders in Rust, with scikit-learn and PyOD conventions.

    import hourglass
    det = hourglass.AnomalyDetector(contamination=0.05).fit(X_train)
    det.predict(X_new)            # 0 = normal, 1 = anomaly
    det.decision_function(X_new)  # higher = more anomalous
    det.save("model.safetensors") # the same file `hourglass score` reads

Training, scores and thresholds are the Rust library's (the same as the command line's); this
module only converts arrays and follows the conventions. Parameters left as None are chosen from
the data, as `hourglass train` does.
"""

from __future__ import annotations

import inspect
import json

import numpy as np

from hourglass._core import Model, __version__

__all__ = ["Autoencoder", "AnomalyDetector", "load", "__version__"]


def _as_rows(X, columns=None):
    """float32 rows (or images) in a C-ordered array, copied only when needed; pandas
    DataFrames are read by column name, checked against `columns` when given."""
    names = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        names = [str(c) for c in X.columns]
        if columns is not None and names != list(columns):
            raise ValueError(
                f"columns {names} differ from the ones the model was fitted on, {list(columns)}"
            )
        X = X.to_numpy()
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError("sparse input is not supported: pass a dense array (X.toarray())")
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError("Complex data not supported")
    if X.dtype == object:
        X = X.astype(np.float64)  # numbers stored as objects; anything else raises here
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ValueError(f"expected numeric data, got an array of {X.dtype}")
    if X.ndim == 1:
        raise ValueError(
            "expected a 2-D array (samples × features). Reshape your data with "
            "X.reshape(1, -1) for a single sample or X.reshape(-1, 1) for a single feature"
        )
    if X.ndim >= 2 and int(np.prod(X.shape[1:])) == 0:
        raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    return np.ascontiguousarray(X, dtype=np.float32), names


class Autoencoder:
    """An autoencoder as a scikit-learn transformer: `fit`, `transform` (latent codes),
    `inverse_transform`, `reconstruct` and `score_samples` (higher = more normal)."""

    def __init__(
        self,
        model="dense",
        latent=None,
        hidden=None,
        channels=None,
        window=None,
        activation=None,
        dropout=None,
        beta=None,
        epochs=None,
        batch_size=None,
        learning_rate=1e-3,
        ensemble=None,
        scaling="standard",
        val_split=0.1,
        patience=None,
        score=None,
        n_threads=None,
        verbose=False,
        random_state=None,
    ):
        self.model = model
        self.latent = latent
        self.hidden = hidden
        self.channels = channels
        self.window = window
        self.activation = activation
        self.dropout = dropout
        self.beta = beta
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.ensemble = ensemble
        self.scaling = scaling
        self.val_split = val_split
        self.patience = patience
        self.score = score
        self.n_threads = n_threads
        self.verbose = verbose
        self.random_state = random_state

    # scikit-learn's parameter protocol, without depending on scikit-learn.
    @classmethod
    def _param_names(cls):
        return [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind != p.VAR_KEYWORD
        ]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = {
            k: v
            for k, v in self.get_params().items()
            if v != inspect.signature(type(self).__init__).parameters[k].default
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags, TransformerTags, InputTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(allow_nan=True),
            non_deterministic=False,
        )

    def _core_params(self):
        seed = self.random_state
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError("random_state must be an int or None (a RandomState is not supported)")

        def sizes(v):
            return None if v is None else [int(x) for x in np.atleast_1d(v)]

        params = {
            "model": self.model,
            "latent": self.latent,
            "hidden": sizes(self.hidden),
            "channels": sizes(self.channels),
            "window": self.window,
            "activation": self.activation,
            "dropout": self.dropout,
            "beta": self.beta,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "ensemble": self.ensemble,
            "scaling": self.scaling,
            "val_split": self.val_split,
            "patience": self.patience,
            "random_state": None if seed is None else int(seed),
            "n_threads": self.n_threads,
            "verbose": bool(self.verbose),
        }
        return json.dumps({k: v for k, v in params.items() if v is not None})

    def fit(self, X, y=None):
        """Trains on X (rows, or images n × h × w / n × c × h × w); y is ignored."""
        X, names = _as_rows(X)
        if X.shape[0] < 2:
            raise ValueError(f"fit needs at least 2 samples, got n_samples={X.shape[0]}")
        self.model_ = Model.fit(X, self._core_params())
        self._after_fit(X, names)
        return self

    def _after_fit(self, X, names):
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            from hourglass._errors import NotFittedError

            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit first"
            )

    def _rows(self, X):
        self._check_fitted()
        X, _ = _as_rows(X, getattr(self, "feature_names_in_", None))
        width = int(np.prod(X.shape[1:]))
        if width != self.n_features_in_:
            raise ValueError(
                f"X has {width} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    def transform(self, X):
        """Latent codes, n × latent."""
        X = self._rows(X)
        return self.model_.encode(X)

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)

    def inverse_transform(self, Z):
        """Samples decoded from latent codes, in the data's units (one flattened row each)."""
        self._check_fitted()
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        return self.model_.decode(Z)

    def reconstruct(self, X):
        """Reconstructions in the data's units (one flattened row per sample)."""
        X = self._rows(X)
        return self.model_.reconstruct(X)

    def decision_scores(self, X):
        X = self._rows(X)
        return self.model_.score(X, self.score)

    def score_samples(self, X):
        """scikit-learn's convention: higher is more normal (the negated anomaly score)."""
        return -self.decision_scores(X)

    def save(self, path):
        """Writes the `.safetensors` file that `hourglass score` and `hourglass.load` read."""
        self._check_fitted()
        self.model_.save(str(path))

    def to_onnx(self, path=None, output="score"):
        """The fitted model as an ONNX graph (opset 17) with the scaling and, for
        ``output="score"``, this estimator's score built in: raw rows (``float32``, n ×
        n_features_in_) in as ``x``; ``score``, ``code`` (``output="encode"``) or
        ``reconstruction`` (``output="reconstruct"``) out. Writes it to ``path`` when given;
        returns the bytes either way (what ``onnxruntime.InferenceSession`` takes)."""
        self._check_fitted()
        kind = self.score if output == "score" else None
        data = self.model_.to_onnx(output, kind)
        if path is not None:
            with open(path, "wb") as f:
                f.write(data)
        return data

    # Pickling (scikit-learn, joblib, Dask) goes through the model file's bytes.
    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" in state:
            import os
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "m.safetensors")
                state["model_"].save(path)
                with open(path, "rb") as f:
                    state["model_"] = f.read()
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            import os
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "m.safetensors")
                with open(path, "wb") as f:
                    f.write(state["model_"])
                state["model_"] = Model.load(path, state.get("n_threads"))
        self.__dict__.update(state)

    @property
    def summary_(self):
        self._check_fitted()
        return json.loads(self.model_.summary_json)


class AnomalyDetector(Autoencoder):
    """An autoencoder anomaly detector following PyOD's contract: `fit(X)`, then
    `decision_function` (higher = more anomalous), `predict` (0/1), `predict_proba`, and the
    fitted `decision_scores_`, `threshold_` and `labels_`. `contamination` is the fraction of
    the training data taken as anomalous; None uses hourglass's automatic rule."""

    def __init__(
        self,
        contamination=0.1,
        model="dense",
        latent=None,
        hidden=None,
        channels=None,
        window=None,
        activation=None,
        dropout=None,
        beta=None,
        epochs=None,
        batch_size=None,
        learning_rate=1e-3,
        ensemble=None,
        scaling="standard",
        val_split=0.1,
        patience=None,
        score=None,
        n_threads=None,
        verbose=False,
        random_state=None,
    ):
        self.contamination = contamination
        super().__init__(
            model, latent, hidden, channels, window, activation, dropout, beta, epochs,
            batch_size, learning_rate, ensemble, scaling, val_split, patience, score, n_threads,
            verbose, random_state,
        )

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="outlier_detector",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(allow_nan=True),
        )

    def fit(self, X, y=None):
        X, names = _as_rows(X)
        if X.shape[0] < 2:
            raise ValueError(f"fit needs at least 2 samples, got n_samples={X.shape[0]}")
        if self.contamination is not None and not 0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination}")
        self.model_ = Model.fit(X, self._core_params())
        self._after_fit(X, names)
        self.decision_scores_ = self.model_.score(X, self.score)
        if self.contamination is None:
            value, rule, _ = self.model_.threshold("auto", None, self.score)
        else:
            # PyOD's definition: the (1 - contamination) quantile of the training scores.
            value = float(np.percentile(self.decision_scores_, 100 * (1 - self.contamination)))
            rule = f"contamination {self.contamination}: the top {100 * self.contamination:g} % of the training scores"
        self.threshold_ = float(value)
        self.threshold_rule_ = rule
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def decision_function(self, X):
        """Anomaly scores: higher is more anomalous."""
        return self.decision_scores(X)

    def predict(self, X, return_confidence=False):
        """1 for an anomaly (score above `threshold_`), 0 otherwise."""
        labels = (self.decision_function(X) > self.threshold_).astype(int)
        return labels

    def predict_proba(self, X, method="linear"):
        """PyOD's 'linear' conversion: each score min-max scaled by the training scores, as
        [P(normal), P(anomaly)] columns; 'unify' uses the Gaussian error function instead."""
        scores = self.decision_function(X)
        train = self.decision_scores_
        if method == "linear":
            low, high = train.min(), train.max()
            p = np.clip((scores - low) / max(high - low, 1e-12), 0, 1)
        elif method == "unify":
            from math import erf, sqrt

            mu, sigma = train.mean(), max(train.std(), 1e-12)
            p = np.clip([erf((s - mu) / (sigma * sqrt(2))) for s in scores], 0, 1)
        else:
            raise ValueError(f"method {method!r}: 'linear' or 'unify'")
        p = np.asarray(p, dtype=float)
        return np.column_stack([1 - p, p])

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_


def load(path, n_threads=None):
    """Reads a model file written by `save` or by `hourglass train` into an AnomalyDetector
    (with the model's own `auto` threshold; set `threshold_` to change it)."""
    core = Model.load(str(path), n_threads)
    det = AnomalyDetector(contamination=None, n_threads=n_threads)
    det.model_ = core
    c, h, w = core.input_shape
    det.n_features_in_ = c * h * w
    det.threshold_, det.threshold_rule_, _ = core.threshold("auto", None, None)
    return det
