"""Label-only membership inference by distance to the decision boundary (Choquette-Choo et al. 2021,
arXiv 2007.14321, "boundary distance"; Li & Zhang 2021, arXiv 2007.15528, "decision boundary"):
members lie further from the boundary than non-members. The distance is the L2 norm of the smallest
perturbation HopSkipJump finds from labels alone within a per-example query budget; a misclassified
example scores 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.evasion.hopskipjump import hopskipjump
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


def boundary_distances(
    target: Target, data: Dataset, *, max_queries: int, bounds: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """L2 distance to the nearest label change HopSkipJump finds per example; 0 where the label is
    already wrong, and the distance to the box's far corner where no label change was found."""
    x = np.asarray(data.x, dtype=np.float64)
    y = np.asarray(data.y)
    correct = target.labels(x) == y
    dist = np.zeros(len(x))
    idx = np.flatnonzero(correct)
    if len(idx):
        adv, _ = hopskipjump(target.labels, x[idx], y[idx], max_queries=max_queries, bounds=bounds, rng=rng)
        d = np.linalg.norm((adv - x[idx]).reshape(len(idx), -1), axis=1)
        found = target.labels(adv) != y[idx]
        far = (bounds[1] - bounds[0]) * np.sqrt(x[0].size)
        dist[idx] = np.where(found, d, far)
    return dist


@dataclass(frozen=True)
class BoundaryDistance:
    """Distance to the decision boundary found with HopSkipJump, queried for labels only."""

    max_queries: int = 300
    name: ClassVar[str] = "boundary-distance"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.LABELS, modalities=frozenset({"image", "tabular"}))

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n = evaluation_pair(inputs, "boundary-distance", numeric=True)
        both = np.concatenate([np.asarray(m.x), np.asarray(n.x)])
        # the input domain: [0, 1] for images; the range the examples span otherwise
        bounds = (0.0, 1.0) if m.kind == "image" else (float(both.min()), float(both.max()))
        stamp = Stamp(self, target, {"max_queries_per_example": self.max_queries, "bounds": list(bounds)}, seed)
        s_in = boundary_distances(
            target, m, max_queries=self.max_queries, bounds=bounds, rng=np.random.default_rng(seed)
        )
        s_out = boundary_distances(
            target, n, max_queries=self.max_queries, bounds=bounds, rng=np.random.default_rng(seed + 1)
        )
        metrics = membership_metrics(s_in, s_out)
        return stamp.finish(
            title="Label-only membership inference by boundary distance (Choquette-Choo et al. 2021)",
            summary=f"HopSkipJump distances to the decision boundary ({self.max_queries} label queries per "
            f"example) separate members with AUC {metrics['auc'].value:.3f}; TPR at 1% FPR "
            f"{metrics['tpr_at_0.01_fpr'].value:.2%}.",
            metrics=metrics,
            severity=membership_severity(metrics),
            artifacts=(
                roc_artifact(s_in, s_out, "Boundary-distance ROC (log-log)"),
                *exposed_artifacts(m, s_in, s_out, nonmembers=inputs.nonmembers),
            ),
        )
