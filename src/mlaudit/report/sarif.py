"""Scan results -> SARIF 2.1.0 (for code-scanning dashboards such as codeql-action/upload-sarif)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlaudit
from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _uri(location: str) -> tuple[str, str | None]:
    path, _, member = location.partition("!")
    return Path(path).as_posix(), member or None


def to_sarif(results: list[FileResult]) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    out = []
    for r in results:
        for i in r.issues:
            rules.setdefault(
                i.rule,
                {
                    "id": i.rule,
                    "name": i.rule.replace("/", "-"),
                    "shortDescription": {"text": i.rule},
                    "properties": {"security-severity": _SCORE[i.severity]},
                },
            )
            uri, member = _uri(i.location)
            region = {"byteOffset": i.offset} if i.offset is not None else None
            loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
            if region:
                loc["physicalLocation"]["region"] = region
            out.append(
                {
                    "ruleId": i.rule,
                    "level": _LEVEL[i.severity],
                    "message": {"text": i.message},
                    "locations": [loc],
                    "properties": {"severity": i.severity.name.lower(), "member": member, "trigger": i.trigger},
                }
            )
    notes = [
        {
            "level": "error",
            "message": {"text": f"could not scan {r.path}: {r.error}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(r.path)[0]}}}],
        }
        for r in results
        if r.error
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "mlaudit", "version": mlaudit.__version__, "rules": list(rules.values())}},
                "invocations": [{"executionSuccessful": not notes, "toolExecutionNotifications": notes}],
                "artifacts": [{"location": {"uri": _uri(r.path)[0]}, "length": r.bytes_scanned} for r in results],
                "results": out,
            }
        ],
    }
