"""What every attack shares: its declared requirements, its inputs, and how a Finding is stamped."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from mlaudit.attacks.references import References
from mlaudit.data.dataset import Dataset
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


@dataclass(frozen=True)
class AttackInputs:
    """Data an attack may use; which parts exist depends on the threat model's knowledge."""

    members: Dataset | None = None
    nonmembers: Dataset | None = None
    population: Dataset | None = None
    base: Target | None = None  # the public pretrained model, when the adversary knows it
    references: References | None = None  # online reference models (trained on random subsets, keep matrix)
    offline_references: References | None = None  # reference models that never saw the audited examples


class Attack(Protocol):
    name: ClassVar[str]
    category: ClassVar[str]
    access: ClassVar[Access]
    knowledge: ClassVar[frozenset[Knowledge]]

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding: ...


def versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    import mlaudit

    return {
        "mlaudit": mlaudit.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }


@dataclass
class Stamp:
    """Collects what a Finding records about its run; `finish` makes the frozen record."""

    attack: Attack
    target: Target
    config: dict[str, Any]
    seed: int
    id: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def finish(
        self,
        *,
        title: str,
        summary: str,
        metrics: dict[str, Metric],
        severity: Severity,
        artifacts: tuple[Artifact, ...] = (),
    ) -> Finding:
        return Finding(
            id=self.id or self.attack.name,
            category=self.attack.category,
            attack=self.attack.name,
            title=title,
            summary=summary,
            threat_model=self.target.threat_model.to_dict(),
            metrics=metrics,
            severity=severity,
            config={**self.config, "queries": self.target.queries},
            seed=self.seed,
            duration_s=round(time.perf_counter() - self.started, 3),
            versions=versions(),
            artifacts=artifacts,
        )
