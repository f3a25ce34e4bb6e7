"""HopSkipJump, label-only, L2, untargeted (Chen, Jordan & Wainwright 2020, arXiv 1904.02144).

From a misclassified starting point, alternate: binary search to the decision boundary, Monte-Carlo
estimate of the boundary's normal from the labels of random perturbations (with the mean as
baseline), and a geometric step along it. Only predicted labels are used, one query per label,
so a Target's query budget bounds it; each example stops when its own budget is spent.
"""

from __future__ import annotations

import numpy as np

from mlaudit.attacks.evasion.base import Bounds, Labels


def _binary_search(labels: Labels, x: np.ndarray, xb: np.ndarray, y: int, theta: float) -> tuple[np.ndarray, int]:
    """Walk the segment from x (correct) to xb (adversarial) until its length is below theta."""
    low, high, q = 0.0, 1.0, 0
    while high - low > theta:
        mid = (low + high) / 2
        q += 1
        if labels(((1 - mid) * x + mid * xb)[None])[0] != y:
            high = mid
        else:
            low = mid
    return (1 - high) * x + high * xb, q


def _initial(labels: Labels, x: np.ndarray, y: int, bounds: Bounds, rng: np.random.Generator) -> tuple:
    for q in range(1, 101):
        cand = rng.uniform(*bounds, size=x.shape)
        if labels(cand[None])[0] != y:
            return cand, q
    return None, 100


def hopskipjump_one(
    labels: Labels,
    x: np.ndarray,
    y: int,
    *,
    max_queries: int,
    init_evals: int = 100,
    max_evals: int = 1000,
    bounds: Bounds = (0.0, 1.0),
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Return (adversarial example or x if none was found, queries used)."""
    d = x.size
    theta = 1.0 / (d * np.sqrt(d))
    start, q = _initial(labels, x, y, bounds, rng)
    if start is None:
        return x.copy(), q
    xb, qb = _binary_search(labels, x, start, y, theta)
    q += qb
    t = 1
    while q < max_queries:
        dist = float(np.linalg.norm(xb - x))
        delta = np.sqrt(d) * theta * dist
        n_ev = int(min(init_evals * np.sqrt(t), max_evals, max_queries - q))
        if n_ev < 2:
            break
        u = rng.standard_normal((n_ev, *x.shape))
        u /= np.linalg.norm(u.reshape(n_ev, -1), axis=1).reshape(-1, *([1] * x.ndim))
        probe = np.clip(xb + delta * u, *bounds)
        u = (probe - xb) / max(delta, 1e-12)
        phi = np.where(labels(probe) != y, 1.0, -1.0)
        q += n_ev
        if abs(phi.mean()) < 1.0:
            phi = phi - phi.mean()  # baseline: variance reduction (Chen et al., Section 4.3)
        grad = np.tensordot(phi, u, axes=1) / n_ev
        grad = grad / max(float(np.linalg.norm(grad)), 1e-12)
        step = dist / np.sqrt(t)
        while q < max_queries:  # geometric search: halve until the step stays adversarial
            q += 1
            cand = np.clip(xb + step * grad, *bounds)
            if labels(cand[None])[0] != y:
                break
            step /= 2
        else:
            break
        xb, qb = _binary_search(labels, x, cand, y, theta)
        q += qb
        t += 1
    return xb, q


def hopskipjump(
    labels: Labels,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_queries: int = 1000,
    bounds: Bounds = (0.0, 1.0),
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Attack each example with its own query budget; return (adversarial inputs, queries used)."""
    out, used = np.empty_like(x, dtype=np.float64), np.zeros(len(x), int)
    for i in range(len(x)):
        out[i], used[i] = hopskipjump_one(
            labels, x[i].astype(np.float64), int(y[i]), max_queries=max_queries, bounds=bounds, rng=rng
        )
    return out, used
