"""White-box membership inference from the loss gradient (Nasr, Shokri & Houmansadr 2019,
arXiv 1812.00910; the gradient-norm signal of Rezaei & Liu 2021, arXiv 2005.10881): training drives
the members' parameter gradients towards zero, so a small gradient norm signals a member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    evaluation_pair,
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    roc_artifact,
)
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


@dataclass(frozen=True)
class GradientNorm:
    """Minus the per-example norm of the parameter gradient of the loss (needs gradient access)."""

    name: ClassVar[str] = "gradient-norm"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.GRADIENTS)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n = evaluation_pair(inputs, "gradient-norm")
        stamp = Stamp(self, target, {}, seed)
        s_in = -np.log(target.gradient_norms(m.x, m.y) + 1e-12)
        s_out = -np.log(target.gradient_norms(n.x, n.y) + 1e-12)
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="White-box gradient-norm membership inference",
            summary=f"Per-example gradient norms separate members with AUC {metrics['auc'].value:.3f}; "
            f"TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "Gradient-norm ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
