"""STRIP (Gao et al. 2019, arXiv 1902.06531): a triggered input stays confidently in the target
class when blended with other images, so its prediction entropy under superimposition is low.

Each input is superimposed on `n_blends` random clean held-out images as the paper's code does it
(cv2.addWeighted with both weights 1: the pixel sum, clipped to the input range, so a trigger keeps its
full intensity); its score is the mean prediction entropy. The detection boundary is the `frr`
quantile of clean inputs' entropies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StripResult:
    threshold: float
    clean_entropy: np.ndarray
    test_entropy: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        return self.test_entropy < self.threshold


def strip_entropy(
    probabilities: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    holdout: np.ndarray,
    *,
    n_blends: int,
    rng: np.random.Generator,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        others = holdout[rng.choice(len(holdout), size=n_blends, replace=False)]
        p = probabilities(np.clip(x[i][None] + others, *bounds))
        out[i] = float(np.mean(-(p * np.log(np.clip(p, 1e-12, None))).sum(1)))
    return out


def strip(
    probabilities: Callable[[np.ndarray], np.ndarray],
    x_clean: np.ndarray,
    x_test: np.ndarray,
    holdout: np.ndarray,
    *,
    n_blends: int = 100,
    frr: float = 0.01,
    rng: np.random.Generator,
) -> StripResult:
    """Calibrate the boundary on `x_clean`, then score `x_test` (e.g. triggered inputs)."""
    n_blends = min(n_blends, len(holdout))
    clean = strip_entropy(probabilities, x_clean, holdout, n_blends=n_blends, rng=rng)
    test = strip_entropy(probabilities, x_test, holdout, n_blends=n_blends, rng=rng)
    return StripResult(float(np.quantile(clean, frr)), clean, test)
