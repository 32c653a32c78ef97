"""Exceptions that follow scikit-learn's, without depending on it."""

try:  # scikit-learn's own class when it is installed, so `except NotFittedError` works there
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - depends on the environment

    class NotFittedError(ValueError, AttributeError):
        """The estimator was used before `fit` (scikit-learn's has the same bases)."""
