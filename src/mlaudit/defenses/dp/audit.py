"""Empirical DP auditing's estimator (Jagielski et al. 2020, Nasr et al. 2021): from a statistic's
trials without (s0) and with (s1) the canary, an epsilon lower bound that holds at the stated
confidence. Any audit that produces the two samples uses it (supplychain.privacy_backdoor.dp_audit's
trapped canary today)."""

from __future__ import annotations

import math

import numpy as np

from mlaudit import metrics


def epsilon_lower_bound(s0: np.ndarray, s1: np.ndarray, *, delta: float, alpha: float = 0.05) -> float:
    """max over thresholds of log((TPR_low - delta) / FPR_high); thresholds chosen on the first half of
    the trials, the bound computed on the second half (Clopper-Pearson at level 1 - alpha, two-sided)."""
    h0, h1 = len(s0) // 2, len(s1) // 2
    taus = np.quantile(s0[:h0], 1 - np.logspace(-6, -0.3, 80))
    best_tau, best = taus[0], -np.inf
    for tau in taus:
        fpr = max((s0[:h0] > tau).mean(), 1.0 / h0)
        tpr = (s1[:h1] > tau).mean()
        if tpr > delta and math.log((tpr - delta) / fpr) > best:
            best, best_tau = math.log((tpr - delta) / fpr), tau
    k0 = int((s0[h0:] > best_tau).sum())
    k1 = int((s1[h1:] > best_tau).sum())
    fpr_hi = metrics.clopper_pearson(k0, len(s0) - h0, alpha=alpha)[1]
    tpr_lo = metrics.clopper_pearson(k1, len(s1) - h1, alpha=alpha)[0]
    return max(0.0, math.log((tpr_lo - delta) / fpr_hi)) if tpr_lo > delta else 0.0
