"""The white-box membership inference attack of Nasr, Shokri & Houmansadr 2019 (arXiv 1812.00910),
passive, with partial knowledge of the training set: an attack model learns members from
non-members on the target's internal activations (the penultimate layer), its loss on the true
label, the norm of the loss gradient with respect to the parameters, and the label, using examples
whose membership the adversary knows. Attack model: logistic regression on standardised features.

Every evaluated example is scored by an attack model that never saw it (2-fold cross-fitting:
each half of the members and non-members is the known subset for scoring the other half).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    evaluation_pair,
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    roc_artifact,
)
from mlaudit.attacks.membership.signals import true_class_probability
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def whitebox_features(target: Target, data: Dataset) -> np.ndarray:
    """Per example: penultimate activations, log p(y|x), log of the parameter-gradient norm and the
    one-hot label. (N, D + 2 + C)"""
    x, y = np.asarray(data.x), np.asarray(data.y)
    act = target.activations(x)
    logp = np.log(np.clip(true_class_probability(target.probabilities(x), y), 1e-300, None))
    gnorm = np.log(target.gradient_norms(x, y) + 1e-12)
    return np.column_stack([act, logp, gnorm, np.eye(target.num_classes)[y]])


def cross_fit_scores(
    f_in: np.ndarray, f_out: np.ndarray, *, rng: np.random.Generator, c: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Member-probability logits for every example, each from an attack model fitted on the other
    fold of members and non-members."""
    fold_in, fold_out = rng.permutation(len(f_in)) % 2, rng.permutation(len(f_out)) % 2
    s_in, s_out = np.empty(len(f_in)), np.empty(len(f_out))
    for k in (0, 1):
        tr = np.concatenate([f_in[fold_in != k], f_out[fold_out != k]])
        lab = np.concatenate([np.ones((fold_in != k).sum()), np.zeros((fold_out != k).sum())])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(tr, lab)
        s_in[fold_in == k] = model.decision_function(f_in[fold_in == k])
        s_out[fold_out == k] = model.decision_function(f_out[fold_out == k])
    return s_in, s_out


@dataclass(frozen=True)
class WhiteBox:
    """Attack model on activations, loss and gradient norm, trained on known members (weights access)."""

    c: float = 1.0  # inverse L2 regularisation of the attack model
    name: ClassVar[str] = "white-box"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.WEIGHTS, frozenset({Knowledge.MEMBER_SUBSET}))

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n = evaluation_pair(inputs, "white-box")
        if min(len(m), len(n)) < 4:
            raise InputError(f"the white-box attack cross-fits on halves; {len(m)} + {len(n)} examples are too few")
        stamp = Stamp(self, target, {"c": self.c, "features": "penultimate, loss, gradient norm, label"}, seed)
        s_in, s_out = cross_fit_scores(
            whitebox_features(target, m), whitebox_features(target, n), rng=np.random.default_rng(seed), c=self.c
        )
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="White-box membership inference (Nasr et al. 2019)",
            summary=f"An attack model on activations, loss and gradient norms, trained on half of the known "
            f"members each time, separates the other half with AUC {metrics['auc'].value:.3f}; TPR at 1% FPR "
            f"{metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "White-box ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
