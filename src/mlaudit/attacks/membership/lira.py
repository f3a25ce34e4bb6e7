"""LiRA, the likelihood-ratio attack (Carlini et al. 2022, arXiv 2112.03570).

Per example, the target's logit-scaled confidence phi is compared with Gaussians fitted to phi under
reference models that trained on the example (IN) and that did not (OUT). Online: log N(phi; IN) -
log N(phi; OUT). Offline (OUT models only): the one-sided P(phi_OUT < phi).

Variance, three estimators, and "auto" (the default) choosing between them:
- "per-example": IN and OUT each get their own per-example variance (the paper's online attack; it
  needs many references: with 8, each variance rests on about 4 values).
- "pooled": one variance per example, shared by IN and OUT and estimated from all of its references
  around their two means. It keeps each example's own scale, which the paper's fixed variance loses,
  with twice the values behind it.
- "global" ("fixed variance" in the paper): one variance for all examples, per side.
Offline there is only the OUT side, and "pooled" is "per-example".
"auto": online "pooled"; offline "global" below 64 references (the paper's advice for few shadow
models), "per-example" from there. Measured on the Fashion-MNIST CNN, full profile, online references
on complementary halves (benchmarks/mia_quality.py, 2026-11-30), TPR at 1% FPR [Clopper-Pearson]:
online with 8 references pooled 8.8% [7.1, 10.7], global 9.7% [7.9, 11.7], per-example 5.3%; offline
with 1 / 2 / 4 / 8 references global 3.9 / 5.7 / 5.1 / 4.1%, per-example 3.9 / 2.3 / 2.7 / 3.1% (a
per-example variance from 2 values degenerates). Pooled and global are within each other's intervals
online; pooled stays the default as it keeps each example's own scale. (An earlier measurement gave
global 1.0%: phi then saturated at 690.8 for confident examples, signals.logit_confidence, and those
outliers inflated the one global variance.)

Augmented queries (Section VI-A): for images, the target and the references are also queried on
a mirror image and one-pixel shifts of each example (attacks.membership.augmentations); the
attack averages the per-view scores. The paper's models train with those augmentations; the built-in
recipe does not, and there the views add noise: TPR at 1% FPR 5.6% with views against 8.8% without
(Fashion-MNIST CNN, 8 references, the same run). Registered as "lira-augmented"; "lira" queries the original only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.augmentations import augmentable, view
from mlaudit.attacks.membership.evaluate import (
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    reference_draw,
    reference_signals,
    roc_artifact,
)
from mlaudit.attacks.membership.signals import logit_confidence
from mlaudit.errors import ConfigError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge

VARIANCES = ("per-example", "pooled", "global")
# below this many OUT references offline LiRA fits one global variance (the paper's advice for few shadow
# models); a per-example variance from 2 values gave 0.0% TPR at 1% FPR where the global one gave 4.4%
# (Fashion-MNIST CNN, benchmarks/mia_quality.py; the module doc has the figures)
PER_EXAMPLE_FROM = 64


def resolve_variance(variance: str, *, online: bool, k: int) -> str:
    """The estimator `auto` stands for: online, "pooled"; offline, "global" below PER_EXAMPLE_FROM
    references and "per-example" from there on."""
    if variance != "auto":
        return variance
    if online:
        return "pooled"
    return "per-example" if k >= PER_EXAMPLE_FROM else "global"


def _moments(phi: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and std of phi over the references selected by mask. Shapes (K, N) -> (N,)."""
    n = mask.sum(0)
    mean = np.where(n > 0, (phi * mask).sum(0) / np.maximum(n, 1), np.nan)
    var = np.where(n > 1, ((phi - mean) ** 2 * mask).sum(0) / np.maximum(n - 1, 1), np.nan)
    pooled = np.nanmean(var) if np.isfinite(var).any() else 1.0
    std = np.full_like(mean, np.sqrt(pooled)) if fixed_variance else np.sqrt(np.where(np.isfinite(var), var, pooled))
    return mean, np.maximum(std, 1e-6)


def _pooled_std(phi: np.ndarray, keep: np.ndarray, mu_in: np.ndarray, mu_out: np.ndarray) -> np.ndarray:
    """One std per example from its IN and OUT values around their own means (N - 2 degrees of
    freedom); examples with fewer than 3 references take the average variance."""
    ss = (np.where(keep, phi - mu_in, 0.0) ** 2).sum(0) + (np.where(~keep, phi - mu_out, 0.0) ** 2).sum(0)
    dof = keep.sum(0).clip(max=1) + (~keep).sum(0).clip(max=1)  # one mean fitted per side present
    dof = len(phi) - dof
    var = np.where(dof > 0, ss / np.maximum(dof, 1), np.nan)
    fill = np.nanmean(var) if np.isfinite(var).any() else 1.0
    return np.maximum(np.sqrt(np.where(np.isfinite(var), var, fill)), 1e-6)


def lira_online(
    phi_target: np.ndarray,
    phi_refs: np.ndarray,
    keep: np.ndarray,
    *,
    variance: str = "pooled",
    fallback: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Online LiRA scores. phi_target (N,), phi_refs (K, N), keep (K, N) -> (N,), higher = member.

    An example that no reference trained on (or that every one did) takes the IN (OUT) mean and
    std from `fallback` = (mu_in, sd_in, mu_out, sd_out), by default the averages over the examples.
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; use one of {VARIANCES}")
    mu_in, sd_in = _moments(phi_refs, keep, variance == "global")
    mu_out, sd_out = _moments(phi_refs, ~keep, variance == "global")
    if fallback is None:
        fallback = (
            float(np.nanmean(mu_in)),
            float(np.nanmean(sd_in)),
            float(np.nanmean(mu_out)),
            float(np.nanmean(sd_out)),
        )
    mu_in, mu_out = np.where(np.isfinite(mu_in), mu_in, fallback[0]), np.where(np.isfinite(mu_out), mu_out, fallback[2])
    if variance == "pooled":
        sd_in = sd_out = _pooled_std(phi_refs, keep, mu_in, mu_out)
    return stats.norm.logpdf(phi_target, mu_in, sd_in) - stats.norm.logpdf(phi_target, mu_out, sd_out)  # type: ignore[no-any-return]


def global_moments(phi_refs: np.ndarray, keep: np.ndarray) -> tuple[float, float, float, float]:
    """IN and OUT mean and std of phi pooled over all examples of a reference set."""
    return (
        float(phi_refs[keep].mean()),
        float(phi_refs[keep].std()),
        float(phi_refs[~keep].mean()),
        float(phi_refs[~keep].std()),
    )


def lira_offline(phi_target: np.ndarray, phi_out: np.ndarray, *, variance: str = "pooled") -> np.ndarray:
    """Offline LiRA scores from OUT references only: log P(phi_OUT < phi_target). (N,), (K, N) -> (N,)."""
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; use one of {VARIANCES}")
    mu, sd = _moments(phi_out, np.ones_like(phi_out, dtype=bool), variance == "global")
    return stats.norm.logcdf(phi_target, mu, sd)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LiRA:
    """Likelihood-ratio membership test against reference models (online or offline)."""

    online: bool = True
    variance: str = "auto"  # auto | per-example | pooled | global (the paper's fixed variance); see resolve_variance
    augment: bool = False  # also query the augmented views the references recorded (images)
    name: ClassVar[str] = "lira"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}),
        needs=frozenset({"references"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        labels, p_target, p_refs, keep, refs = reference_signals(target, inputs, online=self.online, attack="LiRA")
        if self.variance not in ("auto", *VARIANCES):
            raise ConfigError(f"unknown LiRA variance {self.variance!r}; use one of: auto, {', '.join(VARIANCES)}")
        k = int(p_refs.shape[0])
        variance = resolve_variance(self.variance, online=self.online, k=k)
        m, n = inputs.members, inputs.nonmembers
        assert m is not None and n is not None  # reference_signals checked
        views = refs.views if self.augment and augmentable(m.x) and augmentable(n.x) else ()
        config = {"online": self.online, "variance": variance, "references": k, "views": ["original", *views]}
        stamp = Stamp(self, target, config, seed)
        # per view (the original first), the target's and the references' phi; the scores are averaged
        phi_t = [logit_confidence(p_target, labels)]
        phi_r = [logit_confidence(p_refs, labels)]
        if views:
            ids = np.concatenate([m.ids, n.ids])  # type: ignore[list-item]
            for v, p_v in zip(views, refs.select_views(ids), strict=True):
                p_t = np.concatenate([target.probabilities(view(m.x, v)), target.probabilities(view(n.x, v))])
                phi_t.append(logit_confidence(p_t, labels))
                phi_r.append(logit_confidence(p_v, labels))
        fallback = global_moments(logit_confidence(refs.probabilities, refs.labels), refs.keep) if self.online else None

        def score(refs_used: np.ndarray) -> np.ndarray:  # mean over views; refs_used indexes the references
            per_view = [
                lira_online(t, r[refs_used], keep[refs_used], variance=variance, fallback=fallback)
                if self.online
                else lira_offline(t, r[refs_used], variance=variance)
                for t, r in zip(phi_t, phi_r, strict=True)
            ]
            return np.mean(per_view, axis=0)  # type: ignore[no-any-return]

        s = score(np.arange(k))
        n_in = len(m)
        s_in, s_out = s[:n_in], s[n_in:]
        metrics = membership_metrics(s_in, s_out) | reference_draw(score, k, n_in, seed=seed)
        mode = ("online" if self.online else "offline") + f", {variance} variance"
        mode += f", {1 + len(views)} queries per example" if views else ""
        return stamp.finish(
            title=f"LiRA {mode} (Carlini et al. 2022)",
            summary=f"Likelihood ratio against {k} references: AUC {metrics['auc'].value:.3f}, "
            f"TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, f"LiRA {mode} ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
