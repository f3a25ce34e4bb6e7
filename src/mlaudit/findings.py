"""Frozen result records: one Finding per attack run. Only the CLI and report render them."""

from __future__ import annotations

import enum
import platform
from dataclasses import asdict, dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        from mlaudit.errors import ConfigError

        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            valid = ", ".join(s.name.lower() for s in cls)
            raise ConfigError(f"unknown severity {value!r}; use one of: {valid}") from None


CATEGORIES = (
    "membership",
    "inversion",
    "memorization",
    "attribute",
    "property",
    "extraction",
    "evasion",
    "poisoning",
    "privacy_backdoor",
    "file_scan",
    "dp_audit",
)


@dataclass(frozen=True)
class Metric:
    """A measured value with an optional confidence interval and the method that gave it."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    method: str | None = None


@dataclass(frozen=True)
class Artifact:
    """Data for a plot or table the report draws (the report computes nothing)."""

    kind: str  # "roc" | "histogram" | "table" | "image_grid" | "text_pairs" | "curve" | "scores"
    title: str
    data: dict[str, Any]

    @classmethod
    def table(cls, title: str, columns: list[str], rows: list[list[Any]]) -> Artifact:
        return cls("table", title, {"columns": columns, "rows": rows})


@dataclass(frozen=True)
class Finding:
    id: str
    category: str
    attack: str
    title: str
    summary: str
    threat_model: dict[str, Any]
    metrics: dict[str, Metric]
    severity: Severity
    config: dict[str, Any]
    seed: int
    duration_s: float
    versions: dict[str, str]
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown finding category {self.category!r}; use one of {CATEGORIES}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.name.lower()
        d["artifacts"] = [asdict(a) for a in self.artifacts]
        return d


def finding_from_dict(d: dict[str, Any]) -> Finding:
    """Inverse of Finding.to_dict (used to resume an audit from its checkpoints; a report.json finding's
    mitigations are the report's words, not part of the result)."""
    d = {k: v for k, v in d.items() if k != "mitigations"}
    return Finding(
        **{
            **d,
            "severity": Severity.parse(d["severity"]),
            "metrics": {
                k: Metric(**{**v, "value": float("nan") if v["value"] is None else v["value"]})
                for k, v in d["metrics"].items()
            },
            "artifacts": tuple(Artifact(**a) for a in d["artifacts"]),
        }
    )


@dataclass(frozen=True)
class JobError:
    """A job that raised: the audit went on without it, and the report says so."""

    job: str
    type: str
    message: str
    fix: str
    traceback: str = field(default="", repr=False)  # shown with --debug; not written to report.json

    def to_dict(self) -> dict[str, str]:
        return {"job": self.job, "type": self.type, "message": self.message, "fix": self.fix}


SCHEMA_VERSION = "1.2"  # 1.2: summary, findings[].mitigations (written by mlaudit.report)


@dataclass(frozen=True)
class Report:
    """Everything one audit found, as the report writers receive it."""

    mlaudit_version: str
    created: str
    target: dict[str, Any]
    threat_model: dict[str, Any]
    data: dict[str, Any]
    findings: tuple[Finding, ...]
    config: dict[str, Any]
    skipped: tuple[dict[str, str], ...] = ()  # selected attacks that did not run: attack, reason, fix
    errors: tuple[JobError, ...] = ()  # jobs that raised: the audit is incomplete
    schema_version: str = SCHEMA_VERSION

    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.INFO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "mlaudit_version": self.mlaudit_version,
            "created": self.created,
            "target": self.target,
            "threat_model": self.threat_model,
            "data": self.data,
            "config": self.config,
            "findings": [f.to_dict() for f in self.findings],
            "skipped": list(self.skipped),
            "errors": [e.to_dict() for e in self.errors],
        }


def versions() -> dict[str, str]:
    """The library versions a Finding records (a result is only reproducible with the same ones)."""
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
