"""RMIA, the robust membership inference attack (Zarifzadeh, Liu & Shokri 2024, arXiv 2312.03262).

Score(x) = fraction of population examples z with [Pr(x|theta)/Pr(x)] / [Pr(z|theta)/Pr(z)] >= gamma,
Pr(.|theta) the target's probability of the true label and Pr(.) its average over reference models.
Offline (OUT references only), Pr(x) is corrected for the missing IN models with the paper's linear
approximation Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2.
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
    reference_draw,
    reference_signals,
    roc_artifact,
)
from mlaudit.attacks.membership.signals import true_class_probability
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def rmia_scores(
    p_target_x: np.ndarray,
    p_refs_x: np.ndarray,
    p_target_z: np.ndarray,
    p_refs_z: np.ndarray,
    *,
    gamma: float = 1.0,
    offline_a: float | None = None,
) -> np.ndarray:
    """RMIA scores. p_target_x (N,), p_refs_x (K, N), p_target_z (Z,), p_refs_z (K, Z) -> (N,) in [0, 1 + 1/Z).

    score = (count + r) / Z: count is the paper's number of population z that x dominates (the integer
    part, floor(score * Z), is exactly it), r in [0, 1) the rank of x's own ratio among the audited
    examples. Examples with equal counts (up to 46 members and 8 non-members shared the top count on
    a user's CNN, issue 16) are ordered by their likelihood ratio instead of tied: a tie at the top
    leaves TPR at low FPR to chance. The order is the ratio's own, which the count only coarsens.
    """

    def prior(p: np.ndarray) -> np.ndarray:
        mean = p.mean(0)
        return 0.5 * ((1 + offline_a) * mean + (1 - offline_a)) if offline_a is not None else mean

    ratio_x = p_target_x / np.maximum(prior(p_refs_x), 1e-30)  # (N,)
    ratio_z = p_target_z / np.maximum(prior(p_refs_z), 1e-30)  # (Z,)
    # fraction of z with ratio_x / ratio_z >= gamma, by sorting instead of an N x Z matrix
    sorted_z = np.sort(ratio_z)
    count = np.searchsorted(sorted_z, ratio_x / gamma, side="right")
    tie_break = (stats.rankdata(ratio_x, method="average") - 1) / len(ratio_x)  # [0, 1), equal ratios stay tied
    return (count + tie_break) / len(sorted_z)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RMIA:
    """Likelihood ratio of the target against references, compared with population examples."""

    online: bool = True
    gamma: float = 1.0
    offline_a: float = 0.3
    name: ClassVar[str] = "rmia"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}),
        needs=frozenset({"references"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        labels, p_target, p_refs, _, refs = reference_signals(target, inputs, online=self.online, attack="RMIA")
        k, z = int(p_refs.shape[0]), len(refs.population_labels)
        config = {
            "online": self.online,
            "gamma": self.gamma,
            "offline_a": self.offline_a,
            "references": k,
            "population": z,
        }
        stamp = Stamp(self, target, config, seed)
        px_t, px_r = true_class_probability(p_target, labels), true_class_probability(p_refs, labels)
        pz_t = true_class_probability(refs.population_target, refs.population_labels)
        pz_r = true_class_probability(refs.population_probabilities, refs.population_labels)

        def score(used: np.ndarray) -> np.ndarray:  # `used` indexes the references
            a = None if self.online else self.offline_a
            return rmia_scores(px_t, px_r[used], pz_t, pz_r[used], gamma=self.gamma, offline_a=a)

        s = score(np.arange(k))
        n_in = len(inputs.members or ())
        s_in, s_out = s[:n_in], s[n_in:]
        metrics = membership_metrics(s_in, s_out) | reference_draw(score, k, n_in, seed=seed)
        mode = "online" if self.online else "offline"
        return stamp.finish(
            title=f"RMIA {mode} (Zarifzadeh et al. 2024)",
            summary=f"Pairwise likelihood ratio against {k} references and {z} population examples: AUC "
            f"{metrics['auc'].value:.3f}, TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, f"RMIA {mode} ROC (log-log)"),
                *exposed_artifacts(inputs.members, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
