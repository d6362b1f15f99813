"""The contests' metrics: multi-class log loss (the tabular contest), accuracy and macro F1 (the bird contest).

Each is scikit-learn's implementation; this module only fixes how the contests call it. Log loss clips every
probability to [1e-15, 1 - 1e-15] and renormalises each row first, as Kaggle scored the Otto competition:
no prediction is certain, so one confident mistake costs ln(1e15) = 34.5, not infinity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLIP = 1e-15  # Kaggle's clipping for Otto
METRICS = {"tabular": ("log_loss",), "images": ("accuracy", "macro_f1")}  # the first one ranks the board


def clipped(probs) -> np.ndarray:
    """Return the probabilities clipped to [CLIP, 1 - CLIP], each row renormalised to sum to 1."""
    p = np.clip(np.asarray(probs, dtype=float), CLIP, 1 - CLIP)
    return p / p.sum(axis=1, keepdims=True)


def log_loss(truth, probs, classes: Sequence | None = None) -> float:
    """Return the multi-class log loss of probs (rows, classes) for the true classes, Kaggle's clipping applied.

    ``classes`` names the columns of probs in order; without it, truth holds column indices 0..n-1. Naming
    them matters when a part of the test set lacks a class, which the loss must still know is a column.
    """
    from sklearn.metrics import log_loss as sklearn_log_loss  # a second to import: only when scoring

    p = clipped(probs)
    if classes is not None:
        # scikit-learn sorts class names, so Class_10 would come before Class_2: hand it column indices instead
        column = {name: i for i, name in enumerate(classes)}
        unknown = sorted({str(t) for t in truth if t not in column})
        if unknown:
            raise ValueError(f"true classes {', '.join(unknown[:5])} are not among the columns {list(classes)}")
        truth = [column[t] for t in truth]
    return float(sklearn_log_loss(truth, p, labels=list(range(p.shape[1]))))


def log_loss_of_indices(y: np.ndarray, probs: np.ndarray) -> float:
    """Return log_loss(y, probs) for y already given as column indices, without scikit-learn's input checks.

    The same number (tests/test_contest.py holds them equal), for optimisers that evaluate it a thousand
    times: the checks cost 50 ms a call on the contest's table, the arithmetic 1 ms.
    """
    p = clipped(probs)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def accuracy(truth, predicted) -> float:
    """Return the share of predicted labels equal to the true ones."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, predicted))


def macro_f1(truth, predicted) -> float:
    """Return the mean of the per-class F1 scores, over the classes present in the truth or the predictions."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro", zero_division=0))
