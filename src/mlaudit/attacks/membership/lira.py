"""LiRA, the likelihood-ratio attack (Carlini et al. 2022, arXiv 2112.03570).

Per example, the target's logit-scaled confidence phi is compared with Gaussians fitted to phi under
reference models that trained on the example (IN) and that did not (OUT). Online: log N(phi; IN) -
log N(phi; OUT). Offline (OUT models only): the one-sided P(phi_OUT < phi). Fixed variance: one
variance shared by all examples (better with few references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    reference_signals,
    roc_artifact,
)
from mlaudit.attacks.membership.signals import logit_confidence
from mlaudit.findings import Finding
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def _moments(phi: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and std of phi over the references selected by mask. Shapes (K, N) -> (N,)."""
    n = mask.sum(0)
    mean = np.where(n > 0, (phi * mask).sum(0) / np.maximum(n, 1), np.nan)
    var = np.where(n > 1, ((phi - mean) ** 2 * mask).sum(0) / np.maximum(n - 1, 1), np.nan)
    pooled = np.nanmean(var) if np.isfinite(var).any() else 1.0
    std = np.full_like(mean, np.sqrt(pooled)) if fixed_variance else np.sqrt(np.where(np.isfinite(var), var, pooled))
    return mean, np.maximum(std, 1e-6)


def lira_online(
    phi_target: np.ndarray,
    phi_refs: np.ndarray,
    keep: np.ndarray,
    *,
    fixed_variance: bool = False,
    fallback: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Online LiRA scores. phi_target (N,), phi_refs (K, N), keep (K, N) -> (N,), higher = member.

    An example that no reference trained on (or that every one did) takes the IN (OUT) mean and
    std from `fallback` = (mu_in, sd_in, mu_out, sd_out), by default the averages over the examples.
    """
    mu_in, sd_in = _moments(phi_refs, keep, fixed_variance)
    mu_out, sd_out = _moments(phi_refs, ~keep, fixed_variance)
    if fallback is None:
        fallback = (
            float(np.nanmean(mu_in)),
            float(np.nanmean(sd_in)),
            float(np.nanmean(mu_out)),
            float(np.nanmean(sd_out)),
        )
    mu_in, mu_out = np.where(np.isfinite(mu_in), mu_in, fallback[0]), np.where(np.isfinite(mu_out), mu_out, fallback[2])
    return stats.norm.logpdf(phi_target, mu_in, sd_in) - stats.norm.logpdf(phi_target, mu_out, sd_out)  # type: ignore[no-any-return]


def global_moments(phi_refs: np.ndarray, keep: np.ndarray) -> tuple[float, float, float, float]:
    """IN and OUT mean and std of phi pooled over all examples of a reference set."""
    return (
        float(phi_refs[keep].mean()),
        float(phi_refs[keep].std()),
        float(phi_refs[~keep].mean()),
        float(phi_refs[~keep].std()),
    )


def lira_offline(phi_target: np.ndarray, phi_out: np.ndarray, *, fixed_variance: bool = False) -> np.ndarray:
    """Offline LiRA scores from OUT references only: log P(phi_OUT < phi_target). (N,), (K, N) -> (N,)."""
    mu, sd = _moments(phi_out, np.ones_like(phi_out, dtype=bool), fixed_variance)
    return stats.norm.logcdf(phi_target, mu, sd)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LiRA:
    """Likelihood-ratio membership test against reference models (online or offline)."""

    online: bool = True
    fixed_variance: bool = False
    name: ClassVar[str] = "lira"
    category: ClassVar[str] = "membership"
    access: ClassVar[Access] = Access.PROBABILITIES
    knowledge: ClassVar[frozenset[Knowledge]] = frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE})

    def run(self, target: Target, inputs: AttackInputs, *, seed: int, id: str | None = None) -> Finding:
        labels, p_target, p_refs, keep, refs = reference_signals(target, inputs, online=self.online, attack="LiRA")
        k = int(p_refs.shape[0])
        stamp = Stamp(
            self, target, {"online": self.online, "fixed_variance": self.fixed_variance, "references": k}, seed, id
        )
        phi_t, phi_r = logit_confidence(p_target, labels), logit_confidence(p_refs, labels)
        if self.online:
            fallback = global_moments(logit_confidence(refs.probabilities, refs.labels), refs.keep)
            s = lira_online(phi_t, phi_r, keep, fixed_variance=self.fixed_variance, fallback=fallback)
        else:
            s = lira_offline(phi_t, phi_r, fixed_variance=self.fixed_variance)
        n_in = len(inputs.members or ())
        s_in, s_out = s[:n_in], s[n_in:]
        metrics = membership_metrics(s_in, s_out)
        mode = ("online" if self.online else "offline") + (", fixed variance" if self.fixed_variance else "")
        return stamp.finish(
            title=f"LiRA {mode} (Carlini et al. 2022)",
            summary=f"Likelihood ratio against {k} references: AUC {metrics['auc'].value:.3f}, "
            f"TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, f"LiRA {mode} ROC (log-log)"),
                *exposed_artifacts(inputs.members, s_in, s_out),
            ),
        )
