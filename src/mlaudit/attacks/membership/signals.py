"""Per-example membership signals computed from what the threat model grants (pure functions)."""

from __future__ import annotations

import numpy as np

_TINY = 1e-300


def logit_confidence(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's logit-scaled confidence phi = log p_y - log(1 - p_y), with 1 - p_y summed over the other
    classes so that confident examples keep their resolution. Shapes: (..., N, C), (N,) -> (..., N)."""
    p = np.asarray(probabilities, dtype=np.float64)
    idx = np.broadcast_to(labels.reshape((1,) * (p.ndim - 2) + (-1, 1)), p.shape[:-1] + (1,))
    py = np.take_along_axis(p, idx, axis=-1)[..., 0]
    others = np.ones(p.shape, dtype=bool)
    np.put_along_axis(others, idx, False, axis=-1)
    rest = np.where(others, p, 0.0).sum(-1)  # not sum(p) - p_y: that difference is 0 once p_y rounds to 1
    return np.log(np.maximum(py, _TINY)) - np.log(np.maximum(rest, _TINY))  # type: ignore[no-any-return]


def true_class_probability(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p(y | x) for each example. Shapes: (..., N, C), (N,) -> (..., N)."""
    p = np.asarray(probabilities, dtype=np.float64)
    idx = np.broadcast_to(labels.reshape((1,) * (p.ndim - 2) + (-1, 1)), p.shape[:-1] + (1,))
    return np.take_along_axis(p, idx, axis=-1)[..., 0]  # type: ignore[no-any-return]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)  # type: ignore[no-any-return]
