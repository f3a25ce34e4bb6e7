"""Shadow-model membership inference (Shokri et al. 2017, arXiv 1610.05820).

Shadow models imitate the target: trained by its recipe on data whose membership the attacker knows
(here the online reference models, each trained on a random half with a recorded keep matrix). Their
prediction vectors on examples they did and did not train on, labelled in/out, train one attack
classifier per class (a small neural network, as in the paper; inputs are log-probabilities, so
confident outputs stay apart). The target's prediction vector on an example then goes to the attack
model of its class; its membership probability is the score.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    reference_signals,
    roc_artifact,
)
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def _features(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-12, None))  # type: ignore[no-any-return]


def shadow_scores(
    p_target: np.ndarray,
    labels: np.ndarray,
    p_shadow: np.ndarray,
    shadow_labels: np.ndarray,
    shadow_keep: np.ndarray,
    *,
    seed: int,
    hidden: int = 64,
) -> np.ndarray:
    """p_target (N, C), labels (N,); shadows' outputs p_shadow (K, M, C) on M examples with labels (M,)
    and membership shadow_keep (K, M). Returns (N,) membership probabilities, higher = member."""
    from sklearn.neural_network import MLPClassifier

    k, m, c = p_shadow.shape
    x_att = _features(p_shadow.reshape(k * m, c))
    y_att = shadow_keep.reshape(k * m)
    cls_att = np.tile(shadow_labels, k)
    scores = np.full(len(labels), 0.5)
    for cls in np.unique(labels):
        rows = cls_att == cls
        if rows.sum() < 4 or y_att[rows].all() or not y_att[rows].any():
            continue  # no in/out contrast for this class: leave its examples at 0.5
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=300, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the fit is still usable
            clf.fit(x_att[rows], y_att[rows])
        mine = labels == cls
        scores[mine] = clf.predict_proba(_features(p_target[mine]))[:, 1]
    return scores


@dataclass(frozen=True)
class Shokri:
    """Shadow-model attack: per-class classifiers trained on shadow models' in/out prediction vectors."""

    hidden: int = 64
    name: ClassVar[str] = "shadow"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}),
        needs=frozenset({"references"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        labels, p_target, _, _, refs = reference_signals(target, inputs, online=True, attack="The shadow-model attack")
        k = int(refs.probabilities.shape[0])
        stamp = Stamp(self, target, {"shadow_models": k, "hidden": self.hidden}, seed)
        s = shadow_scores(p_target, labels, refs.probabilities, refs.labels, refs.keep, seed=seed, hidden=self.hidden)
        n_in = len(inputs.members or ())
        s_in, s_out = s[:n_in], s[n_in:]
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="Shadow-model attack (Shokri et al. 2017)",
            summary=f"Per-class attack models trained on {k} shadow models' in/out outputs: AUC "
            f"{metrics['auc'].value:.3f}, TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "Shadow-model attack ROC (log-log)"),
                *exposed_artifacts(inputs.members, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
