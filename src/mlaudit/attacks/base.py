"""What every attack shares: its declared requirements, its inputs, and how a Finding is stamped."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlaudit.attacks.memorization.secrets import SecretFormat
from mlaudit.attacks.references import References
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.models.recipe import Recipe
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import ThreatModel


@dataclass(frozen=True)
class AttackInputs:
    """Data an attack may use; which parts exist depends on the threat model's knowledge."""

    members: Dataset | None = None
    nonmembers: Dataset | None = None
    population: Dataset | None = None
    base: Target | None = None  # the public pretrained model, when the adversary knows it
    references: References | None = None  # online reference models (trained on random subsets, keep matrix)
    offline_references: References | None = None  # reference models that never saw the audited examples
    recipe: Recipe | None = None  # how the target was trained, to train models like it
    pool: Dataset | None = None  # the adversary's larger pool from the training distribution (no member in it)
    evaluation: Dataset | None = None  # the auditor's held-out data for evaluation models (never trained on)
    model_files: tuple[str, ...] = ()  # the audited model's files, scanned before anything loads them
    budget: str = "quick"  # the profile's effort: "quick" | "full"
    threat_model: ThreatModel | None = None  # the adversary's (an auditor's check gets a view with more access)
    cache: Path | None = None  # where models trained for this audit are kept between runs
    secrets: tuple[SecretFormat, ...] = ()  # language models: secret formats declared for the members' documents
    probes: tuple[str, ...] = ()  # language models: prefixes to ask the model to complete
    # language models: each audited document's mean log-probability under each reference LM (K,)
    lm_reference_scores: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        for name in ("members", "nonmembers", "population", "pool", "evaluation"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Dataset):
                raise InputError(
                    f"AttackInputs.{name} must be an mlaudit Dataset, got {type(value).__name__}; "
                    "wrap arrays as mlaudit.data.Dataset(x, y, classes, name, kind)"
                )


class Attack(Protocol):
    """One contract for every family: declared requirements, and a run that sees only the Target."""

    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def requires(self) -> Requires: ...

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding: ...


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


def as_demonstration(f: Finding, *, id: str, title: str, tm: ThreatModel) -> Finding:
    """A demonstration's finding: INFO (it is not about the audited model), with its own adversary."""
    return dataclasses.replace(
        f,
        id=id,
        title=f"Demonstration: {title}",
        summary=f"{f.summary} (Measured severity {f.severity.name.lower()}; a demonstration on built-in data, "
        "not a finding about the audited model.)",
        severity=Severity.INFO,
        threat_model=tm.to_dict(),
    )
