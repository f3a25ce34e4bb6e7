"""Square Attack, Linf, score-based (Andriushchenko et al. 2020, arXiv 1912.00049).

Random search: each iteration proposes, for every still-correct example, a square window whose
pixels move to +-eps (one sign per channel) and keeps it if the margin loss drops. The window side
follows the paper's schedule p(i) (halved at 10, 50, 200, 500, 1k, 2k, 4k, 6k, 8k of 10k iterations,
rescaled to the budget). It needs only scores, so it runs through a Target and its query budget.
"""

from __future__ import annotations

import numpy as np

from mlaudit.attacks.evasion.base import Bounds, Scores
from mlaudit.errors import InputError

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(p_init: float, i: int, n_iters: int) -> float:
    it = int(i / n_iters * 10000)
    return p_init / 2 ** sum(it > h for h in _HALVINGS)


def margin(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p_y - max_{j != y} log p_j (on logits when the rows are not probabilities); < 0 means fooled."""
    s = np.asarray(scores, dtype=np.float64)
    if s.min() >= 0 and np.allclose(s.sum(1), 1.0, atol=1e-4):
        s = np.log(np.clip(s, 1e-300, None))
    own = s[np.arange(len(y)), y]
    other = s.copy()
    other[np.arange(len(y)), y] = -np.inf
    return own - other.max(1)  # type: ignore[no-any-return]


def square(
    scores: Scores,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    n_queries: int = 1000,
    p_init: float = 0.05,
    bounds: Bounds = (0.0, 1.0),
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (adversarial inputs, queries used per example). `x` is (N, C, H, W) in `bounds`."""
    if x.ndim != 4:
        raise InputError(f"Square needs images shaped (N, C, H, W), got shape {x.shape}; reshape the inputs")
    if eps < 0:
        raise InputError(f"eps must be >= 0, got {eps}")
    n, c, h, w = x.shape
    lo, hi = bounds
    if eps == 0 or n == 0:
        return x.copy(), np.zeros(n, int)
    x_best = np.clip(x + eps * rng.choice([-1.0, 1.0], size=(n, c, 1, w)), lo, hi)  # vertical stripes
    m_best = margin(scores(x_best), y)
    used = np.ones(n, int)
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    for i in range(1, n_queries):
        act = np.flatnonzero(m_best > 0)
        if act.size == 0:
            break
        side = int(min(max(round(np.sqrt(p_schedule(p_init, i, n_queries) * h * w)), 1), h - 1))
        r0 = rng.integers(0, h - side + 1, size=act.size)[:, None, None]
        c0 = rng.integers(0, w - side + 1, size=act.size)[:, None, None]
        win = (rows >= r0) & (rows < r0 + side) & (cols >= c0) & (cols < c0 + side)  # (A, H, W)
        delta = x_best[act] - x[act]
        signs = eps * rng.choice([-1.0, 1.0], size=(act.size, c, 1, 1))
        delta = np.where(win[:, None], signs, delta)
        x_new = np.clip(x[act] + delta, lo, hi)
        m_new = margin(scores(x_new), y[act])
        used[act] += 1
        better = m_new < m_best[act]
        x_best[act[better]], m_best[act[better]] = x_new[better], m_new[better]
    return x_best, used
