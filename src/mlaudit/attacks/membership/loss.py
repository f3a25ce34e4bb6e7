"""LOSS attack (Yeom et al. 2018, arXiv 1709.01604): members have lower loss; threshold it.

The score is the negative cross-entropy of the true label, so a higher score means "member".
Sweeping the threshold over all values gives the ROC; no shadow model is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    roc_artifact,
    score_histogram,
)
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access

_EPS = 1e-12


def loss_scores(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Negative cross-entropy per example: log p(y | x). Shapes: (N, K), (N,) -> (N,)."""
    p = np.clip(probabilities[np.arange(len(labels)), labels], _EPS, 1.0)
    return np.log(p)


@dataclass(frozen=True)
class LOSS:
    """Threshold on the per-example loss. Needs probabilities and the true labels; no auxiliary data."""

    fprs: tuple[float, ...] = (0.001, 0.01)
    name: ClassVar[str] = "loss"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        if inputs.members is None or inputs.nonmembers is None:
            raise InputError(
                "the LOSS attack needs members and non-members to evaluate; set data.members / data.nonmembers"
            )
        stamp = Stamp(
            self,
            target,
            {"fprs": list(self.fprs), "members": inputs.members.name, "nonmembers": inputs.nonmembers.name},
            seed,
        )
        s_in = loss_scores(target.probabilities(inputs.members.x), inputs.members.y)
        s_out = loss_scores(target.probabilities(inputs.nonmembers.x), inputs.nonmembers.y)
        m = membership_metrics(s_in, s_out, fprs=self.fprs)
        auc = m["auc"]
        return stamp.finish(
            title="LOSS membership inference (Yeom et al. 2018)",
            summary=(
                f"Thresholding the loss separates {inputs.members.name} from {inputs.nonmembers.name} "
                f"with AUC {auc.value:.3f} [{auc.ci_low:.3f}, {auc.ci_high:.3f}]; "
                f"TPR at 1% FPR {m['tpr_at_0.01_fpr'].value:.3%}."
            ),
            metrics=m,
            severity=membership_severity(m),
            artifacts=(
                roc_artifact(s_in, s_out, "ROC (log-log)"),
                score_histogram(s_in, s_out, "log p(y|x)"),
                *exposed_artifacts(inputs.members, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
