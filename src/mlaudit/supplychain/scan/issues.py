"""Scan results as data: issues with severity and explanation; only the CLI renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlaudit.findings import Severity


@dataclass(frozen=True)
class Issue:
    """One thing the scanner found in one file (or one member of an archive)."""

    severity: Severity
    rule: str  # e.g. "pickle/code-execution", "safetensors/trailing-bytes"
    message: str
    location: str  # file path, with "!member" for archive members
    offset: int | None = None  # byte offset in the (decompressed) stream, where known
    trigger: str | None = None  # the import, key or template fragment that triggered it

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.name.lower(),
            "rule": self.rule,
            "message": self.message,
            "location": self.location,
            "offset": self.offset,
            "trigger": self.trigger,
        }


@dataclass
class FileResult:
    """What scanning one path gave. `error` set means it could not be scanned: never clean."""

    path: str
    format: str = "unknown"
    issues: list[Issue] = field(default_factory=list)
    error: str | None = None
    safe_imports: set[str] = field(default_factory=set)
    bytes_scanned: int = 0

    @property
    def worst(self) -> Severity:
        return max((i.severity for i in self.issues), default=Severity.INFO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "error": self.error,
            "issues": [i.to_dict() for i in self.issues],
            "safe_imports": sorted(self.safe_imports),
        }


class ScanError(Exception):
    """The input could not be scanned (malformed beyond what the scanner can read, over a limit)."""
