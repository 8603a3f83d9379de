"""How the evaluator reads a network's scores: the class each row predicts (the highest score, or a single output
against its threshold), the classes ranked for a top-k check, the cross-entropy on the visible sample, a regression
network's one output as its prediction, and how well scores fit visible labels (accuracy, or R² for a regression
dataset), which picks the preprocessing and the network discovery grades."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


def fit_quality(scores: Array, labels: Array, threshold: float, regression: bool) -> float:
    """How well scores fit visible labels, higher is better: accuracy, or for a regression network R² of its one
    output (-inf when an output is not finite)."""
    if not regression:
        return float((classes_of(scores, threshold) == labels).mean())
    error = scores[:, 0].astype(np.float64) - labels
    if not np.isfinite(error).all():
        return float("-inf")
    spread = float(np.sum((labels - labels.mean()) ** 2))
    return 1.0 - float(np.sum(error ** 2)) / spread if spread > 0 else -float(np.sum(error ** 2))


def classes_of(scores: Array, threshold: float = 0.5) -> Array:
    """The class each row of scores predicts: the highest score's, or for one output class 1 above `threshold` (0.5
    for a probability, 0 for a logit: `NumpyNetwork.one_output_threshold`)."""
    if scores.shape[1] == 1:
        return (scores[:, 0] > threshold).astype(np.int64)
    with np.errstate(invalid="ignore"):
        classes: Array = np.nan_to_num(scores, nan=-np.inf).argmax(axis=1).astype(np.int64)
        return classes


def ranked_classes(scores: Array, k: int) -> Array:
    """Each row's k best-scored classes, best first (NaN scores last; ties in class order)."""
    with np.errstate(invalid="ignore"):
        order: Array = np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=1, kind="stable")[:, :k]
    return order.astype(np.int64)


def cross_entropy(scores: Array, labels: Array) -> float | None:
    """Mean cross-entropy of class scores (probabilities, log-probabilities or logits); None when not class scores."""
    if scores.shape[1] < 2 or not np.isfinite(scores).all() or labels.max(initial=0) >= scores.shape[1]:
        return None
    s = scores.astype(np.float64)
    if s.min() >= 0 and np.allclose(s.sum(axis=1), 1, atol=1e-3):
        log_p = np.log(np.clip(s, 1e-12, None))
    else:
        shifted = s - s.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def finite_list(values: Array) -> list[float | None]:
    """A regression network's outputs as JSON numbers (None for a value that is not finite)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]
