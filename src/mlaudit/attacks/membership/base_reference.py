"""Base-model reference attack: the public pretrained checkpoint the target was fine-tuned from is a
free reference model. Score = phi_target(x) - phi_base(x), the target's logit-scaled confidence
calibrated per example by the base's (the "difficulty calibration" of Watson et al. 2022, arXiv
2111.08440, with the base in place of trained references)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import exposed_artifacts, membership_metrics, membership_severity, roc_artifact
from mlaudit.attacks.membership.signals import logit_confidence
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


@dataclass(frozen=True)
class BaseReference:
    """Calibrate each example's confidence against the public base model the target came from."""

    name: ClassVar[str] = "base-reference"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES, frozenset({Knowledge.BASE_MODEL}), needs=frozenset({"base"})
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n, base = inputs.members, inputs.nonmembers, inputs.base
        if m is None or n is None or base is None:
            raise InputError("the base-reference attack needs members, non-members and the public base model")
        if base.num_classes != target.num_classes:
            raise InputError(
                f"the base model has {base.num_classes} outputs but the target {target.num_classes}; "
                "the base-reference attack needs the same label set (calibrate the head first)"
            )
        stamp = Stamp(self, target, {"base": base.name}, seed)
        x_all = [m.x, n.x]
        labels = np.concatenate([m.y, n.y])
        phi_t = logit_confidence(np.concatenate([target.probabilities(x) for x in x_all]), labels)
        phi_b = logit_confidence(np.concatenate([base.probabilities(x) for x in x_all]), labels)
        s = phi_t - phi_b
        s_in, s_out = s[: len(m)], s[len(m) :]
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="Base-model reference attack (target vs the public base it was fine-tuned from)",
            summary=f"Confidence gained over the public base separates members with AUC {metrics['auc'].value:.3f}, "
            f"TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}; no reference model was trained.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "Base-reference ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
