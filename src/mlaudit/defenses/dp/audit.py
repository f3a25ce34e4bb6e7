"""Empirical DP auditing's estimator (Jagielski et al. 2020, Nasr et al. 2021): from a statistic's
trials without (s0) and with (s1) the canary, an epsilon lower bound that holds at the stated
confidence. Any audit that produces the two samples uses it (supplychain.privacy_backdoor.dp_audit's
trapped canary today)."""

from __future__ import annotations

import math

import numpy as np

from mlaudit import metrics


def epsilon_lower_bound(
    s0: np.ndarray, s1: np.ndarray, *, delta: float, alpha: float = 0.05, select: float = 0.25
) -> float:
    """The largest epsilon the trials refute: a test "score > t" of the canary's presence gives
    epsilon >= log((TPR - delta) / FPR), and its complement epsilon >= log((TNR - delta) / FNR)
    ((epsilon, delta)-DP bounds both). The threshold and the direction are chosen on the first `select`
    share of the trials (a quarter: the bound's intervals gain more from the other three quarters than the
    threshold loses; on 200,000 + 200,000 Gaussian trials at mu 1.65 the bound averaged 4.96 against 4.61
    with halves); the bound is computed on the rest with Clopper-Pearson intervals at level
    1 - alpha (two-sided), so it holds at that confidence.

    Thresholds: quantiles of the selection's s0 at 200 rates from 1e-6 to 1 - 1e-6 on both tails
    (the best one sits in a tail for a strong canary, near the middle for a weak one)."""
    s0, s1 = np.asarray(s0, dtype=np.float64), np.asarray(s1, dtype=np.float64)
    if not 0 < select < 1:
        raise ValueError(f"select is the share of trials that chooses the threshold, in (0, 1); got {select}")
    h0, h1 = max(1, int(len(s0) * select)), max(1, int(len(s1) * select))
    if min(h0, h1, len(s0) - h0, len(s1) - h1) < 1:
        raise ValueError(f"need at least 2 trials with and 2 without the canary, got {len(s1)} and {len(s0)}")
    tail = np.logspace(-6, -0.3, 100)
    taus = np.quantile(s0[:h0], np.concatenate([tail, 1 - tail]))
    a0, a1 = np.sort(s0[:h0]), np.sort(s1[:h1])
    fpr = 1 - np.searchsorted(a0, taus, side="right") / h0  # P(s0 > t)
    tpr = 1 - np.searchsorted(a1, taus, side="right") / h1
    floor0, floor1 = 1.0 / h0, 1.0 / h1  # an empty count is not a zero rate
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.log(np.maximum(tpr - delta, 0) / np.maximum(fpr, floor0))  # "present" when above t
        down = np.log(np.maximum(1 - fpr - delta, 0) / np.maximum(1 - tpr, floor1))  # "absent" when not
    if np.nanmax(np.r_[up, down, -np.inf]) == -np.inf:
        return 0.0
    best_up, best_down = np.nanargmax(np.nan_to_num(up, nan=-np.inf)), np.nanargmax(np.nan_to_num(down, nan=-np.inf))
    above = np.nan_to_num(up[best_up], nan=-np.inf) >= np.nan_to_num(down[best_down], nan=-np.inf)
    tau = taus[best_up] if above else taus[best_down]
    n0, n1 = len(s0) - h0, len(s1) - h1
    k0, k1 = int((s0[h0:] > tau).sum()), int((s1[h1:] > tau).sum())
    if above:  # TPR from below, FPR from above
        rate, err = metrics.clopper_pearson(k1, n1, alpha=alpha)[0], metrics.clopper_pearson(k0, n0, alpha=alpha)[1]
    else:  # TNR from below, FNR from above
        rate = metrics.clopper_pearson(n0 - k0, n0, alpha=alpha)[0]
        err = metrics.clopper_pearson(n1 - k1, n1, alpha=alpha)[1]
    return max(0.0, math.log((rate - delta) / err)) if rate > delta else 0.0
