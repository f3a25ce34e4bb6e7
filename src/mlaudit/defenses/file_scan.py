"""The static file scanner (supplychain.scan) as an audit check: the audited model's files are scanned
before anything loads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mlaudit.attacks.base import AttackInputs
from mlaudit.findings import Finding
from mlaudit.requirements import MODALITIES, Requires
from mlaudit.supplychain.scan.finding import scan_finding
from mlaudit.targets.base import Target
from mlaudit.threat import Access


@dataclass(frozen=True)
class FileScan:
    """Scan the audited model's files for code-execution payloads without loading them."""

    name: ClassVar[str] = "file-scan"
    category: ClassVar[str] = "file_scan"
    requires: ClassVar[Requires] = Requires(
        Access.LABELS, modalities=frozenset(MODALITIES), needs=frozenset({"model_files"}), auditor=True
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        tm = inputs.threat_model or target.threat_model
        return scan_finding(list(inputs.model_files), seed=seed, threat_model=tm.to_dict())
