"""The setup record every audit prepares, from a built-in scenario or a user's config alike: the
target (the auditor's handle; attacks get a restricted view), the threat model, the attack inputs per
pair ("main", and "control": two disjoint non-member sets), and what the report says about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig
from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.registry import get_attack
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge, ThreatModel


@dataclass
class AuditSetup:
    target: Target  # full access: the data owner's handle (attacks get a restricted view)
    threat_model: ThreatModel
    inputs: dict[str, AttackInputs]  # "main", and "control" (two disjoint non-member sets)
    target_info: dict[str, Any]
    data_info: dict[str, Any]
    model_files: list[str] = field(default_factory=list)


def threat_model(cfg: AuditConfig) -> ThreatModel:
    t = cfg.threat_model
    return ThreatModel(
        access=Access.parse(t.access),
        query_budget=t.query_budget,
        knowledge=frozenset(Knowledge.parse(k) for k in t.knowledge),
        asset=t.asset,
    )


def wants_references(attacks: list[str], tm: ThreatModel) -> bool:
    """Whether any selected attack needs reference models the threat model lets the adversary train."""
    return Knowledge.TRAINING_RECIPE in tm.knowledge and any(
        "references" in get_attack(a).requires.needs for a in attacks
    )


def wants_views(attacks: list[str]) -> bool:
    """Whether LiRA's augmented queries are selected (the references then score the views too)."""
    return any(getattr(get_attack(a), "augment", False) for a in attacks)


def scenario_data(dataset: str, seed: int, splits: dict[str, Any], parts: dict[str, Dataset]) -> dict[str, Any]:
    """The report's data section for a built-in scenario: where the data came from and how it was split."""
    return {"dataset": dataset, "seed": seed, "splits": splits, "parts": {k: describe(v) for k, v in parts.items()}}


def describe(d: Dataset) -> dict[str, Any]:
    counts = np.bincount(d.y, minlength=d.num_classes)
    return {"name": d.name, "kind": d.kind, "size": len(d), "classes": list(d.classes), "class_counts": counts.tolist()}


def control_halves(nonmembers: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """The control pair: the non-members split in two disjoint halves, seeded."""
    if len(nonmembers) < 4:
        raise InputError(f"the control pair splits the non-members in two; {len(nonmembers)} are too few (need 4+)")
    half = np.random.default_rng(seed).permutation(len(nonmembers))
    a, b = half[: len(half) // 2], half[len(half) // 2 :]
    return nonmembers.subset(a, "non-members (half A)"), nonmembers.subset(b, "non-members (half B)")


def model_files(path: Path, also: Path | None = None) -> list[str]:
    """The files a model loads, for the scanner: a file itself, or every file of its folder (and of
    `also`, the base folder an adapter loads)."""
    out: list[str] = []
    for d in (path, also):
        if d is not None:
            out += [str(d)] if d.is_file() else sorted(str(p) for p in d.iterdir() if p.is_file())
    return out
