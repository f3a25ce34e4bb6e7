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

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import membership_metrics, membership_severity, roc_artifact
from mlaudit.attacks.membership.signals import true_class_probability
from mlaudit.errors import InputError
from mlaudit.findings import Finding
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
    """RMIA scores. p_target_x (N,), p_refs_x (K, N), p_target_z (Z,), p_refs_z (K, Z) -> (N,) in [0, 1]."""

    def prior(p: np.ndarray) -> np.ndarray:
        mean = p.mean(0)
        return 0.5 * ((1 + offline_a) * mean + (1 - offline_a)) if offline_a is not None else mean

    ratio_x = p_target_x / np.maximum(prior(p_refs_x), 1e-30)  # (N,)
    ratio_z = p_target_z / np.maximum(prior(p_refs_z), 1e-30)  # (Z,)
    # fraction of z with ratio_x / ratio_z >= gamma, by sorting instead of an N x Z matrix
    sorted_z = np.sort(ratio_z)
    return np.searchsorted(sorted_z, ratio_x / gamma, side="right") / len(sorted_z)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RMIA:
    """Likelihood ratio of the target against references, compared with population examples."""

    online: bool = True
    gamma: float = 1.0
    offline_a: float = 0.3
    name: ClassVar[str] = "rmia"
    category: ClassVar[str] = "membership"
    access: ClassVar[Access] = Access.PROBABILITIES
    knowledge: ClassVar[frozenset[Knowledge]] = frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE})

    def run(self, target: Target, inputs: AttackInputs, *, seed: int, id: str | None = None) -> Finding:
        m, n = inputs.members, inputs.nonmembers
        refs = inputs.references if self.online else inputs.offline_references
        if m is None or n is None or refs is None or m.ids is None or n.ids is None:
            raise InputError("RMIA needs members, non-members and reference models trained on them")
        stamp = Stamp(
            self,
            target,
            {
                "online": self.online,
                "gamma": self.gamma,
                "offline_a": self.offline_a,
                "references": int(refs.probabilities.shape[0]),
                "population": int(len(refs.population_labels)),
            },
            seed,
            id,
        )
        ids = np.concatenate([m.ids, n.ids])
        labels = np.concatenate([m.y, n.y])
        p_refs, keep = refs.select(ids)
        pt = true_class_probability(np.concatenate([target.probabilities(m.x), target.probabilities(n.x)]), labels)
        pr = true_class_probability(p_refs, labels)
        pz_t = true_class_probability(refs.population_target, refs.population_labels)
        pz_r = true_class_probability(refs.population_probabilities, refs.population_labels)
        s = rmia_scores(pt, pr, pz_t, pz_r, gamma=self.gamma, offline_a=None if self.online else self.offline_a)
        s_in, s_out = s[: len(m)], s[len(m) :]
        metrics = membership_metrics(s_in, s_out)
        mode = "online" if self.online else "offline"
        return stamp.finish(
            title=f"RMIA {mode} (Zarifzadeh et al. 2024)",
            summary=f"Pairwise likelihood ratio against {refs.probabilities.shape[0]} references and "
            f"{len(refs.population_labels)} population examples: AUC {metrics['auc'].value:.3f}, "
            f"TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(roc_artifact(s_in, s_out, f"RMIA {mode} ROC (log-log)"),),
        )
