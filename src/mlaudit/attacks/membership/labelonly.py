"""Label-only membership inference by robustness to perturbation (Choquette-Choo et al. 2021,
arXiv 2007.14321): members stay correctly classified under more augmentations and noise than
non-members. Score = fraction of perturbed queries answered with the true label (labels only)."""

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
from mlaudit.data.dataset import Dataset
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def perturb(x: np.ndarray, kind: str, *, noise: float, rng: np.random.Generator) -> np.ndarray:
    """One random perturbation of every example, drawn per example: images get a shift of up to one
    pixel and Gaussian noise, other inputs Gaussian noise; images stay in [0, 1]."""
    out = x + rng.normal(0.0, noise, size=x.shape).astype(x.dtype)
    if kind == "image":
        shifts = rng.integers(-1, 2, size=(len(x), 2))
        for dy, dx in {(int(a), int(b)) for a, b in shifts}:
            sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            out[sel] = np.roll(out[sel], (dy, dx), axis=(-2, -1))
        out = np.clip(out, 0.0, 1.0)
    return out


def robustness_scores(
    target: Target, data: Dataset, *, n_queries: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Fraction of `n_queries` perturbed copies classified as the true label. (N,) in [0, 1]."""
    x = np.asarray(data.x, dtype=np.float32)
    hits = np.zeros(len(x))
    for _ in range(n_queries):
        hits += target.labels(perturb(x, data.kind, noise=noise, rng=rng)) == data.y
    return hits / n_queries


@dataclass(frozen=True)
class LabelOnly:
    """Robustness of the predicted label to augmentation and noise, queried for labels only."""

    n_queries: int = 16
    noise: float = 0.1
    name: ClassVar[str] = "label-only"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.LABELS, modalities=frozenset({"image", "tabular"}))

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n = evaluation_pair(inputs, "label-only", numeric=True)
        stamp = Stamp(self, target, {"n_queries": self.n_queries, "noise": self.noise}, seed)
        # one generator per set from the same seed: both sets see identically distributed perturbations
        s_in = robustness_scores(target, m, n_queries=self.n_queries, noise=self.noise, rng=np.random.default_rng(seed))
        s_out = robustness_scores(
            target, n, n_queries=self.n_queries, noise=self.noise, rng=np.random.default_rng(seed)
        )
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="Label-only membership inference by robustness (Choquette-Choo et al. 2021)",
            summary=f"{self.n_queries} perturbed label queries per example separate members with AUC "
            f"{metrics['auc'].value:.3f}; TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "Label-only ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
