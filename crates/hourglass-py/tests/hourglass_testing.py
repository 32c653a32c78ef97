"""Small helpers for the tests, so they need no scikit-learn."""

import numpy as np


def roc_auc(scores, positive):
    """The chance that a random positive scores above a random negative (ties count half)."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive).astype(bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
