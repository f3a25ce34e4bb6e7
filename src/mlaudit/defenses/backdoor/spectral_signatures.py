"""Spectral Signatures (Tran, Li & Madry 2018, arXiv 1811.00636): poisons leave a trace in the top
singular direction of each class's centred representations.

For every class: centre its penultimate representations, score each example by its squared
projection on the top right singular vector, and remove the top eps_multiplier * expected_poison
share (the paper removes 1.5 times the poison share it guards against). The default expected share
within a class, 0.33, is the peer default (ART's SpectralSignatureDefense).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.errors import InputError


@dataclass(frozen=True)
class SpectralResult:
    scores: np.ndarray  # (N,) squared projection on the class's top singular vector
    removed: np.ndarray  # (N,) bool
    removal_rate: float

    def recall(self, is_poison: np.ndarray) -> float:
        """Share of the true poisons that were removed."""
        return float(self.removed[is_poison].mean()) if is_poison.any() else float("nan")


def spectral_signatures(
    reps: np.ndarray, labels: np.ndarray, *, expected_poison: float = 0.33, eps_multiplier: float = 1.5
) -> SpectralResult:
    if len(reps) != len(labels):
        raise InputError(f"{len(reps)} representations but {len(labels)} labels")
    rate = min(1.0, expected_poison * eps_multiplier)
    scores, removed = np.zeros(len(labels)), np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        r = reps[idx] - reps[idx].mean(0)
        _, _, vt = np.linalg.svd(r, full_matrices=False)
        s = (r @ vt[0]) ** 2
        scores[idx] = s
        k = int(np.floor(rate * len(idx)))
        if k:
            removed[idx[np.argsort(-s, kind="stable")[:k]]] = True
    return SpectralResult(scores, removed, rate)
