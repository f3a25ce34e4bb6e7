"""A file scan as one audit Finding (category file_scan), for the main audit's report."""

from __future__ import annotations

import time
from pathlib import Path

from mlaudit.findings import Artifact, Finding, Metric, Severity, versions
from mlaudit.supplychain.scan.scanner import scan_paths


def scan_finding(paths: list[str], *, seed: int, threat_model: dict[str, object]) -> Finding:
    """Scan the audited model's files; the severity is the worst issue (an unscannable file is high)."""
    t0 = time.perf_counter()
    results = scan_paths([Path(p) for p in paths])
    issues = [i for r in results for i in r.issues]
    errors = [r for r in results if r.error]
    worst = max([i.severity for i in issues] + [Severity.HIGH] * bool(errors), default=Severity.INFO)
    rows = [[i.severity.name.lower(), i.rule, i.location, i.message] for i in issues]
    rows += [["high", "scan/error", r.path, f"could not be scanned: {r.error}"] for r in errors]
    counts = {s.name.lower(): sum(i.severity == s for i in issues) for s in Severity}
    summary = (
        f"{len(results)} model files scanned without loading them: "
        + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no issues")
        + (f"; {len(errors)} could not be scanned" if errors else "")
        + "."
    )
    return Finding(
        id="file-scan",
        category="file_scan",
        attack="scan",
        title="Model-file scan (static, nothing loaded)",
        summary=summary,
        threat_model=threat_model,
        metrics={
            "files": Metric(float(len(results))),
            "errors": Metric(float(len(errors))),
            **{f"issues_{k}": Metric(float(n)) for k, n in counts.items()},
        },
        severity=worst,
        config={"paths": paths},
        seed=seed,
        duration_s=round(time.perf_counter() - t0, 3),
        versions=versions(),
        artifacts=(Artifact("table", "Scan issues", {"columns": ["severity", "rule", "where", "what"], "rows": rows}),)
        if rows
        else (),
    )
