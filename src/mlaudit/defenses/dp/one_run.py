"""Privacy auditing with one (1) training run (Steinke, Nasr & Jagielski 2023, arXiv 2305.08846): m
canaries, each put into the training set independently with probability 1/2; after one training run
the auditor scores them, guesses the k_pos highest as included and the k_neg lowest as excluded
(abstaining on the rest), and counts its correct guesses v out of r = k_pos + k_neg.

Under (eps, delta)-DP the count is stochastically dominated by Binomial(r, q), q = e^eps / (1 + e^eps),
plus a delta term (their Theorem 3.1 and Proposition 5.7): p(eps) = P[Bin(r, q) >= v] +
2 m delta max_{1<=i<=v} (1/i) sum_{j=1..i} P[Bin(r, q) = v - j]. Every eps with p(eps) <= alpha is
refuted at confidence 1 - alpha; the lower bound is the largest such eps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mlaudit.errors import InputError


@dataclass(frozen=True)
class OneRunAudit:
    """The guesses (r), how many were right (v), and the epsilon lower bound at 1 - alpha."""

    epsilon: float
    guesses: int
    correct: int
    canaries: int
    alpha: float
    delta: float


def p_value(eps: float, *, guesses: int, correct: int, canaries: int, delta: float) -> float:
    """How likely `correct` or more right guesses out of `guesses` are under (eps, delta)-DP."""
    q = 1.0 / (1.0 + math.exp(-eps))
    tail = float(stats.binom.sf(correct - 1, guesses, q))
    if delta == 0 or correct == 0:
        return min(tail, 1.0)
    pmf = stats.binom.pmf(correct - np.arange(1, correct + 1), guesses, q)  # P[Bin = v - j], j = 1..v
    spread = float(np.max(np.cumsum(pmf) / np.arange(1, correct + 1)))
    return min(tail + 2 * canaries * delta * spread, 1.0)


def one_run_audit(
    scores: np.ndarray, included: np.ndarray, *, k_pos: int, k_neg: int, delta: float, alpha: float = 0.05
) -> OneRunAudit:
    """The audit of one run: `scores` of the m canaries (higher: more likely included), `included`
    which were trained on (each drawn with probability 1/2, independently of the training run)."""
    scores, included = np.asarray(scores, dtype=np.float64), np.asarray(included)
    m = len(scores)
    if included.shape != scores.shape or included.dtype != bool:
        raise InputError(f"included must be a boolean array of the scores' shape {scores.shape}, got {included.dtype}")
    if k_pos < 0 or k_neg < 0 or k_pos + k_neg == 0 or k_pos + k_neg > m:
        raise InputError(f"k_pos + k_neg guesses must be between 1 and the {m} canaries, got {k_pos} + {k_neg}")
    if not 0 <= delta < 1 or not 0 < alpha < 1:
        raise InputError(f"need 0 <= delta < 1 and 0 < alpha < 1, got delta={delta}, alpha={alpha}")
    order = np.argsort(scores, kind="stable")
    right = int(included[order[m - k_pos :]].sum()) + int((~included[order[:k_neg]]).sum())
    r = k_pos + k_neg

    def refuted(eps: float) -> bool:
        return p_value(eps, guesses=r, correct=right, canaries=m, delta=delta) <= alpha

    lo, hi = 0.0, 50.0
    if not refuted(lo):
        return OneRunAudit(0.0, r, right, m, alpha, delta)
    for _ in range(60):  # p grows with eps: bisect for the largest refuted eps
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if refuted(mid) else (lo, mid)
    return OneRunAudit(lo, r, right, m, alpha, delta)
