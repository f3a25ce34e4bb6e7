"""PRADA (Juuti et al. 2019, "PRADA: Protecting against DNN Model Stealing Attacks", Algorithm 1): per
client, the minimum L2 distance of each new query to the client's earlier queries of the same predicted class
(the "growing set"); natural queries give distances that look normally distributed, the synthetic and
perturbed queries of extraction attacks do not. The Shapiro-Wilk statistic W of the distances, once the
client has sent `min_queries`, below `delta` flags the client.

A query joins its class's growing set when its distance exceeds the class threshold T_c = max(T_c,
mean(D_c) - std(D_c)) over the distances D_c of the set's members, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

_MAX_DISTANCES = 5000  # Shapiro-Wilk's p-value is unreliable beyond 5,000 values: test the latest ones


@dataclass
class _Class:
    members: np.ndarray | None = None  # (n, features): the growing set
    distances: list[float] = field(default_factory=list)  # D_c: distances of the growing set's members
    threshold: float = 0.0


@dataclass
class Prada:
    delta: float = 0.9
    min_queries: int = 100
    classes: dict[int, _Class] = field(default_factory=dict)
    distances: list[float] = field(default_factory=list)  # D: every query's minimum distance
    queries: int = 0
    w: float | None = None

    def observe(self, x: np.ndarray, labels: np.ndarray) -> None:
        """Record a batch: x (N, ...) as the client sent it, labels (N,) the predicted classes."""
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        for row, c in zip(flat, np.asarray(labels).tolist(), strict=True):
            self._one(row, int(c))
        self.queries += len(flat)
        if len(self.distances) >= self.min_queries:
            tail = np.asarray(self.distances[-_MAX_DISTANCES:])
            self.w = float(stats.shapiro(tail).statistic) if np.ptp(tail) > 0 else 0.0

    def _one(self, row: np.ndarray, c: int) -> None:
        g = self.classes.setdefault(c, _Class())
        if g.members is None:
            g.members = row[None]
            g.distances.append(0.0)
            return
        d = float(np.sqrt(((g.members - row) ** 2).sum(1)).min())
        self.distances.append(d)
        if d > g.threshold:
            g.members = np.vstack([g.members, row[None]])
            g.distances.append(d)
            g.threshold = max(g.threshold, float(np.mean(g.distances) - np.std(g.distances)))

    @property
    def flagged(self) -> bool:
        return self.w is not None and self.w < self.delta

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "shapiro_w": self.w, "delta": self.delta, "flagged": self.flagged}
