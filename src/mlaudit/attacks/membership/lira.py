"""LiRA, the likelihood-ratio attack (Carlini et al. 2022, arXiv 2112.03570).

Per example, the target's logit-scaled confidence phi is compared with Gaussians fitted to phi under
reference models that trained on the example (IN) and that did not (OUT). Online: log N(phi; IN) -
log N(phi; OUT). Offline (OUT models only): the one-sided P(phi_OUT < phi).

Variance, four estimators, and "auto" (the default) choosing between them:
- "per-example": IN and OUT each get their own per-example variance (the paper's online attack; it
  needs many references: with 8, each variance rests on about 4 values).
- "pooled": one variance per example, shared by IN and OUT and estimated from all of its references
  around their two means. It keeps each example's own scale, which the paper's fixed variance loses,
  with twice the values behind it.
- "global" ("fixed variance" in the paper): one variance for all examples, per side.
- "moderated": the pooled variance shrunk towards a prior fitted to all examples' pooled variances
  (empirical Bayes, Smyth 2004, limma's moderated t): the prior's degrees of freedom d0 and scale s0^2
  come from the mean and variance of log s^2 (digamma / trigamma moments of a scaled chi-square), and
  each example's variance is (d0 s0^2 + d s^2) / (d0 + d). With few references d is small and the
  prior weighs more (8 references: d = 6, fitted d0 about 4-6); with many, the example's own variance
  dominates; where the pooled variances vary no more than chance predicts, d0 is infinite and it is
  the global variance.
Offline there is only the OUT side, and "pooled" is "per-example".
"auto": online "moderated"; offline "global" below 64 references (the paper's advice for few shadow
models), "per-example" from there. Measured on users' Fashion-MNIST CNNs trained from scratch
(benchmarks/lira_variance.py on an H200, 2026-12-01: 2,500 members, Adam, cosine, 30 epochs, batch
16; 24 targets, each against 8 references on complementary halves of 5,000 candidates), mean TPR at
1% FPR for widths 16 / 32 / 64 channels: pooled 5.3 / 7.5 / 8.6%, moderated 5.8 / 8.4 / 9.5%, global
4.6 / 7.0 / 8.1%; with 16 references moderated and pooled agree (7.9 / 10.9 / 12.4% and 7.8 / 10.7 /
12.2%); offline with 4 population references (global) 2.6 / 3.2 / 3.1%. In an earlier run of the same
experiment, offline with 2-4 references, the moderated variance was within 0.2 points of the global
one and the per-example one fell to 0.2-2.5%.
The built-in default (a fine-tuned CNN, full profile, benchmarks/mia_quality.py), TPR at 1% FPR
[Clopper-Pearson]: online with 8 references moderated 10.0% [8.2, 12.0] (2026-12-01; its control at
+1.2 null sigma), pooled 8.8% [7.1, 10.7] (2026-11-30), global 9.7% [7.9, 11.7], per-example 5.3%;
offline with 1 / 2 / 4 / 8 references global 3.9 / 5.7 / 5.1 / 4.1%, per-example 3.9 / 2.3 / 2.7 /
3.1% (a per-example variance from 2 values degenerates). (An earlier measurement gave global 1.0%: phi
then saturated at 690.8 for confident examples, signals.logit_confidence, and those
outliers inflated the one global variance.)

Augmented queries (Section VI-A): for images, the target and the references are also queried on
a mirror image and one-pixel shifts of each example (attacks.membership.augmentations); the
attack averages the per-view scores. The paper's models train with those augmentations; the built-in
recipe does not, and there the views add noise: TPR at 1% FPR 7.9% with views against 10.0% without
(the built-in default, 8 references, moderated variance, the same run, 2026-12-01; pooled 5.6 vs
8.8%). Registered as "lira-augmented"; "lira" queries the original only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special, stats

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

VARIANCES = ("per-example", "pooled", "global", "moderated")
# below this many OUT references offline LiRA fits one global variance (the paper's advice for few shadow
# models); a per-example variance from 2 values gave 0.0% TPR at 1% FPR where the global one gave 4.4%
# (Fashion-MNIST CNN, benchmarks/mia_quality.py; the module doc has the figures)
PER_EXAMPLE_FROM = 64


def resolve_variance(variance: str, *, online: bool, k: int) -> str:
    """The estimator `auto` stands for: online, "moderated"; offline, "global" below PER_EXAMPLE_FROM
    references and "per-example" from there on."""
    if variance != "auto":
        return variance
    if online:
        return "moderated"
    return "per-example" if k >= PER_EXAMPLE_FROM else "global"


def _moments(phi: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and std of phi over the references selected by mask. Shapes (K, N) -> (N,)."""
    n = mask.sum(0)
    mean = np.where(n > 0, (phi * mask).sum(0) / np.maximum(n, 1), np.nan)
    var = np.where(n > 1, ((phi - mean) ** 2 * mask).sum(0) / np.maximum(n - 1, 1), np.nan)
    pooled = np.nanmean(var) if np.isfinite(var).any() else 1.0
    std = np.full_like(mean, np.sqrt(pooled)) if fixed_variance else np.sqrt(np.where(np.isfinite(var), var, pooled))
    return mean, np.maximum(std, 1e-6)


def _pooled_var(
    phi: np.ndarray, keep: np.ndarray, mu_in: np.ndarray, mu_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per example, the variance of its IN and OUT values around their own means and its degrees of
    freedom (K minus one per side present); nan where there are none."""
    ss = (np.where(keep, phi - mu_in, 0.0) ** 2).sum(0) + (np.where(~keep, phi - mu_out, 0.0) ** 2).sum(0)
    dof = len(phi) - (keep.sum(0).clip(max=1) + (~keep).sum(0).clip(max=1))  # one mean fitted per side present
    return np.where(dof > 0, ss / np.maximum(dof, 1), np.nan), dof


def _pooled_std(phi: np.ndarray, keep: np.ndarray, mu_in: np.ndarray, mu_out: np.ndarray) -> np.ndarray:
    """One std per example from its IN and OUT values around their own means (N - 2 degrees of
    freedom); examples with fewer than 3 references take the average variance."""
    var, _ = _pooled_var(phi, keep, mu_in, mu_out)
    fill = np.nanmean(var) if np.isfinite(var).any() else 1.0
    return np.maximum(np.sqrt(np.where(np.isfinite(var), var, fill)), 1e-6)


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x, by Newton's method on 1 / trigamma from y = 0.5 + 1/x (as limma does)."""
    if x > 1e7:
        return 1.0 / np.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1.0 - tri / x) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def variance_prior(var: np.ndarray, dof: int) -> tuple[float, float]:
    """(d0, s0^2) of the scaled inverse chi-square prior that sample variances `var` (each on `dof`
    degrees of freedom) are drawn under, by moments of log var (Smyth 2004, section 6.2). d0 is inf
    where the variances spread no more than sampling alone would make them."""
    v = var[np.isfinite(var) & (var > 0)]
    if len(v) < 3 or dof < 1:
        return np.inf, float(np.mean(v)) if len(v) else 1.0
    e = np.log(v) - special.digamma(dof / 2) + np.log(dof / 2)
    excess = float(np.var(e, ddof=1)) - float(special.polygamma(1, dof / 2))
    if excess <= 0:
        return np.inf, float(np.exp(e.mean()))
    d0 = 2.0 * _trigamma_inverse(excess)
    return d0, float(np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2)))


def moderated(var: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Each example's variance shrunk to the prior fitted on the examples with the commonest dof:
    (d0 s0^2 + d s^2) / (d0 + d); examples with d = 0 take s0^2."""
    ok = dof > 0
    common = int(np.bincount(dof[ok]).argmax()) if ok.any() else 0
    d0, s0 = variance_prior(var[dof == common], common)
    if not np.isfinite(d0):
        return np.full(var.shape, s0)
    s2 = np.where(ok, np.nan_to_num(var), 0.0)
    return (d0 * s0 + dof * s2) / (d0 + dof)  # type: ignore[no-any-return]


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
    elif variance == "moderated":
        var, dof = _pooled_var(phi_refs, keep, mu_in, mu_out)
        sd_in = sd_out = np.maximum(np.sqrt(moderated(var, dof)), 1e-6)
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
