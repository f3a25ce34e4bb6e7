"""Markdown for a CI job summary or a pull-request comment: one report's summary (`mlaudit audit
--format markdown`, report.md) and the comparison of two reports (`mlaudit compare`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlaudit.errors import InputError
from mlaudit.findings import Severity
from mlaudit.report.summary import control_label, figure, headline, metric_words, summarize


def _headline(metric: str, m: dict[str, Any]) -> str:
    return f"{metric_words(metric)} {figure(metric, m.get('value'), m.get('ci_low'), m.get('ci_high'))}"


def report_markdown(doc: dict[str, Any]) -> str:
    """One report as Markdown: the verdict, a row per risk, what did not run."""
    s = doc.get("summary") or summarize(doc)
    name = doc["target"].get("name", "target")
    lines = [f"## mlaudit: {name}: worst {s['worst'].upper()}", "", s["verdict"], ""]
    lines += [
        "| asset | risk | severity | headline (95% interval) | adversary needs | control |",
        "|---|---|---|---|---|---|",
    ]
    for r in s["risks"]:
        if r["finding"] is None:
            lines.append(f"| {r['asset']} | {r['risk']} | not measured | | | |")
            continue
        h = r["headline"]
        label = control_label(r["control"])
        ctl = f"**{label}**" if label == "NOT at chance" else label
        head = _headline(h["metric"], h) if h else ""
        lines.append(
            f"| {r['asset']} | {r['risk']} | **{r['severity']}** | {head} (`{r['finding']}`) | {r['access'] or ''} "
            f"| {ctl} |"
        )
    for skipped in s["not_run"]:
        lines.append(f"- not run: `{skipped['attack']}`: {skipped['reason']}; {skipped['fix']}")
    if s["failed"]:
        lines.append(f"- **incomplete**: jobs failed: {', '.join(s['failed'])}")
    return "\n".join(lines) + "\n"


def write_markdown(report_json: Path, path: Path) -> Path:
    """report.md beside report.json: the summary of the report as written (and validated)."""
    path.write_text(report_markdown(json.loads(report_json.read_text(encoding="utf-8"))), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Change:
    """One finding across two reports: `status` up (risk rose beyond both intervals), down, same
    (within the intervals), new, gone; `regression`: up or new, at or above the failing severity."""

    id: str
    before: str | None  # severity
    after: str | None
    metric: str | None
    was: dict[str, Any] | None
    now: dict[str, Any] | None
    status: str
    regression: bool


def load_report(path: Path) -> dict[str, Any]:
    """A report.json, validated against the schema (exit 2 with the reason otherwise)."""
    import jsonschema

    from mlaudit.report.json import validate

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {str(path)!r}: {e.strerror}; give the path of a report.json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{str(path)!r} is not JSON ({e}); give the path of a report.json") from None
    try:
        validate(doc)
    except jsonschema.ValidationError as e:
        where = "/".join(map(str, e.absolute_path)) or "the top level"
        raise InputError(
            f"{str(path)!r} is not an mlaudit report of this version ({e.message} at {where}); rerun the audit"
        ) from None
    return doc  # type: ignore[no-any-return]


def compare(before: dict[str, Any], after: dict[str, Any], fail_on: Severity) -> list[Change]:
    """Per finding (controls and demonstrations aside): whether its risk went up beyond the intervals."""
    old = {f["id"]: f for f in before["findings"] if not f["id"].endswith("-control")}
    new = {f["id"]: f for f in after["findings"] if not f["id"].endswith("-control")}
    out = []
    for fid in list(new) + [k for k in old if k not in new]:
        a, b = old.get(fid), new.get(fid)
        ha, hb = (headline(a) if a else None), (headline(b) if b else None)
        metric = (hb or ha or (None, None))[0]
        was = a["metrics"].get(metric) if a and metric else None
        now = b["metrics"].get(metric) if b and metric else None
        status = _status(a, b, was, now)
        severe = b is not None and Severity.parse(b["severity"]) >= fail_on
        rose = a is not None and b is not None and Severity.parse(b["severity"]) > Severity.parse(a["severity"])
        out.append(
            Change(
                fid,
                a["severity"] if a else None,
                b["severity"] if b else None,
                metric,
                was,
                now,
                status,
                severe and (status in ("up", "new") or rose),
            )  # fmt: skip
        )
    return out


def _status(a: Any, b: Any, was: dict[str, Any] | None, now: dict[str, Any] | None) -> str:
    if a is None:
        return "new"
    if b is None:
        return "gone"
    if was is None or now is None or was["value"] is None or now["value"] is None:
        return "same"
    (lo_now, hi_now), (lo_was, hi_was) = _bounds(now), _bounds(was)
    if lo_now > hi_was:
        return "up"
    if hi_now < lo_was:
        return "down"
    return "same"


def _bounds(m: dict[str, Any]) -> tuple[float, float]:
    """A metric's interval, or the value itself where it has none."""
    lo, hi = m["ci_low"], m["ci_high"]
    return (m["value"] if lo is None else lo, m["value"] if hi is None else hi)


def compare_markdown(changes: list[Change], fail_on: Severity, names: tuple[str, str]) -> str:
    bad = [c for c in changes if c.regression]
    verdict = (
        f"**{len(bad)} regression(s)** at or above {fail_on.name.lower()}: {', '.join(c.id for c in bad)}"
        if bad
        else f"no regression at or above {fail_on.name.lower()}"
    )
    lines = [f"## mlaudit compare: {names[0]} -> {names[1]}", "", verdict, ""]
    lines += ["| finding | severity | headline before | headline after | change |", "|---|---|---|---|---|"]
    for c in changes:
        sev = f"{c.before or '-'} -> {c.after or '-'}"
        was = _headline(c.metric, c.was) if c.metric and c.was else ""
        now = _headline(c.metric, c.now) if c.metric and c.now else ""
        flag = f"**{c.status} (regression)**" if c.regression else c.status
        lines.append(f"| `{c.id}` | {sev} | {was} | {now} | {flag} |")
    return "\n".join(lines) + "\n"
