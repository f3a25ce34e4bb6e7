"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external resources)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from mlaudit.attacks.memorization.pii import find_pii
from mlaudit.findings import Finding, Report, Severity
from mlaudit.report.json import measured
from mlaudit.report.plots import DRAW
from mlaudit.report.summary import (
    MITIGATIONS,
    control_label,
    control_verdict,
    defences_measured,
    figure,
    headline,
    metric_words,
    summarize,
)

_COLORS = {
    Severity.INFO: "#7f8c8d",
    Severity.LOW: "#2980b9",
    Severity.MEDIUM: "#e67e22",
    Severity.HIGH: "#c0392b",
    Severity.CRITICAL: "#8e0000",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#1d2733;color:#fff;padding:1.2rem 2rem}header h1{margin:0;font-size:1.5rem}
header p{margin:.3rem 0 0;opacity:.8}main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:8px;padding:1rem 1.4rem;margin:1rem 0;box-shadow:0 1px 3px #0002}
h2{font-size:1.15rem;margin:.2rem 0 .6rem}table{border-collapse:collapse;font-size:.9rem;margin:.4rem 0}
td,th{border-bottom:1px solid #e3e7ec;padding:.25rem .8rem .25rem 0;text-align:left;vertical-align:top}
th{color:#52606d;font-weight:600}.sev{display:inline-block;color:#fff;border-radius:4px;padding:.05rem .5rem;
font-size:.8rem;font-weight:600;text-transform:uppercase;margin-right:.5rem}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plots figure{margin:0}.plots img{max-width:100%}.muted{color:#52606d;font-size:.85rem}code{background:#eef1f4;padding:0 .25rem;border-radius:3px}
.verdict{font-size:1.05rem;font-weight:600}details{margin:.5rem 0}summary{cursor:pointer;color:#1f4e79;font-weight:600}
details.control{margin-left:1rem}.todo-head{margin:.4rem 0 .1rem;font-weight:600}ul.todo{margin:.1rem 0 .4rem}
nav#contents ol{columns:2;font-size:.9rem}nav#contents{background:#fff;border-radius:8px;padding:.6rem 1.4rem}
@media print{details::details-content{content-visibility:visible;display:contents}body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}
section,nav#contents{box-shadow:none;break-inside:auto}figure,svg,img,tr,h2,summary{break-inside:avoid}h2,summary{break-after:avoid}svg,img{max-width:100%}}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _sev(s: Severity) -> str:
    return f'<span class="sev" style="background:{_COLORS[s]}">{s.name.lower()}</span>'


def _kv_table(d: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return _kv_table(v)
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list | tuple):
        return _e(", ".join(map(str, v))) if v else "<span class='muted'>none</span>"
    return _e(v) if v is not None else "<span class='muted'>none</span>"


def _figure(name: str, value: float | None, low: float | None, high: float | None) -> str:
    text = figure(name, value, low, high)
    return f"<span class='muted'>{text}</span>" if text == "not measured" else _e(text)


def _metrics_table(f: Finding) -> str:
    rows = "".join(
        f"<tr><td title='{_e(name)}'>{_e(metric_words(name))}</td>"
        f"<td>{_figure(name, m.value, m.ci_low, m.ci_high)}</td><td class='muted'>{_e(m.method or '')}</td></tr>"
        for name, m in f.metrics.items()
    )
    head = "<tr><th>metric</th><th>value [95% interval]</th><th>method</th></tr>"
    return f"<table>{head}{rows}</table>"


def _cell(v: Any, percent: bool) -> str:
    """A table cell: numbers formatted here (report.json keeps them as numbers)."""
    if isinstance(v, float):
        return f"{100 * v:.3g}%" if percent else f"{v:.3g}"
    return _e(v)


def _marked(text: str) -> str:
    """Text with the personal data in it (attacks.memorization.pii, checked rules) marked."""
    out, at = [], 0
    found = {(m.start(), m.end(), p.kind) for p in find_pii(text) for m in re.finditer(re.escape(p.text), text)}
    for start, end, kind in sorted(found):
        if start >= at:
            out += [_e(text[at:start]), f"<mark title='{_e(kind)}'>{_e(text[start:end])}</mark>"]
            at = end
    return "".join(out) + _e(text[at:])


def _table(data: dict[str, Any], title: str = "") -> str:
    cols = data["columns"]
    pct = [c in data.get("percent_columns", ()) for c in cols]
    pii = [c in data.get("pii_columns", ()) for c in cols]  # text where personal data is marked
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{_marked(str(c)) if m else _cell(c, p)}</td>" for c, p, m in zip(row, pct, pii, strict=False))
        + "</tr>"
        for row in data["rows"]
    )
    caption = f"<caption class='muted'>{_e(title)}</caption>" if title else ""
    return f"<table>{caption}<tr>{head}</tr>{rows}</table>"


def _evidence(f: Finding) -> str:
    """A finding's metrics, tables, plots and images."""
    figs = "".join(f"<figure>{DRAW[a.kind](a.data, a.title)}</figure>" for a in f.artifacts if a.kind in DRAW)
    tables = "".join(_table(a.data, a.title) for a in f.artifacts if a.kind == "table")
    figs += "".join(
        f"<figure><img alt='{_e(a.title)}' src='data:image/png;base64,{_e(a.data['png_base64'])}'>"
        f"<figcaption class='muted'>{_e(a.title)}</figcaption></figure>"
        for a in f.artifacts
        if a.kind == "image_grid"
    )
    tables += "".join(
        f"<p class='muted'>{_e(a.title)}: in report.json, this finding's artifact of kind <code>scores</code>.</p>"
        for a in f.artifacts
        if a.kind == "scores"
    )
    return f"{_metrics_table(f)}{tables}<div class='plots'>{figs}</div>"


def _control_words(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    if c["at_chance"] is None:
        return f" · control <a href='#{_e(c['id'])}'>{_e(c['id'])}</a>: not measured"
    z = f"{c['z']:+.1f}"
    if c["at_chance"]:
        return f" · control AUC {c['auc']:.3f}, at chance ({z} sigma)"
    return (
        f" · <strong>control AUC {c['auc']:.3f}, not at chance ({z} sigma): the measurement itself is biased "
        "(members and non-members differ in more than membership)</strong>"
    )


def _todo(f: Finding, first_of_kind: Finding | None, defences: list[dict[str, Any]]) -> str:
    """What to do: the mitigations of this kind of finding (once per kind; later ones point back to it),
    and any defence this audit measured against it."""
    measured = "".join(
        f"<li class='measured'>Measured in this audit: <a href='#finding-{_e(d['id'])}'>{_e(d['id'])}</a>"
        + (f" ({_e(metric_words(h[0]))} {_figure(h[0], h[1]['value'], h[1]['ci_low'], h[1]['ci_high'])})" if h else "")
        + "</li>"
        for d in defences
        for h in [headline(d)]
    )
    if first_of_kind is not None:
        see = f"as for <a href='#finding-{_e(first_of_kind.id)}'>{_e(first_of_kind.id)}</a>"
        return f"<p class='todo-head'>What to do: <span class='muted'>{see}</span></p>" + (
            f"<ul class='todo'>{measured}</ul>" if measured else ""
        )
    todo = "".join(f"<li>{_e(m)}</li>" for m in MITIGATIONS.get(f.category, ()))
    return f"<p class='todo-head'>What to do</p><ul class='todo'>{todo}{measured}</ul>" if todo or measured else ""


def _finding(f: Finding, control: Finding | None, todo: str) -> str:
    """One section: the one-line result with the control's verdict, what to do, the evidence folded."""
    verdict = control_verdict(control.to_dict()) if control is not None else None
    nested = ""
    if control is not None:
        nested = (
            f"<details class='control' id='{_e(control.id)}'><summary>Control pair (two halves of the non-members; "
            f"expected at chance): {_e(control.summary)}</summary>{_evidence(control)}</details>"
        )
    return (
        f'<section class="finding" id="finding-{_e(f.id)}" data-severity="{f.severity.name.lower()}">'
        f"<h2>{_sev(f.severity)}{_e(f.title)} <span class='muted'>({_e(f.id)})</span></h2>"
        f"<p class='result'>{_e(f.summary)}{_control_words(verdict)}</p>{todo}"
        f"<details class='evidence'><summary>Evidence</summary>{_evidence(f)}{nested}</details>"
        f"<p class='muted'>attack <code>{_e(f.attack)}</code> · category {_e(f.category)} · seed {f.seed} · "
        f"{f.duration_s:.3g} s · {f.config.get('queries', 0)} queries</p></section>"
    )


def _findings(report: Report, doc: dict[str, Any]) -> str:
    controls = {f.id: f for f in report.findings if f.id.endswith("-control")}
    first: dict[str, Finding] = {}
    out = []
    for f in report.findings:
        if f.id.endswith("-control"):
            continue
        defences = [d for d in defences_measured(f.category, doc["findings"]) if d["id"] != f.id]
        todo = _todo(f, first.get(f.category), defences)
        first.setdefault(f.category, f)
        out.append(_finding(f, controls.get(f"{f.id}-control"), todo))
    return "".join(out)


def _membership_overview(report: Report) -> str:
    """All membership attacks (not their controls): one log-log ROC plot and a comparison table."""
    from mlaudit.report.plots import roc_overlay_svg

    mia = [f for f in report.findings if f.category == "membership" and not f.id.endswith("-control")]
    curves = [(f.id, a.data["fpr"], a.data["tpr"]) for f in mia for a in f.artifacts if a.kind == "roc"]
    if len(curves) < 2:
        return ""

    def cell(f: Finding, key: str) -> str:
        m = f.metrics.get(key)
        return _figure(key, m.value, m.ci_low, m.ci_high) if m is not None else ""

    rows = "".join(
        f"<tr><td><a href='#finding-{_e(f.id)}'>{_e(f.id)}</a></td><td>{cell(f, 'auc')}</td>"
        f"<td>{cell(f, 'tpr_at_0.001_fpr')}</td><td>{cell(f, 'tpr_at_0.01_fpr')}</td><td>{_sev(f.severity)}</td></tr>"
        for f in mia
    )
    head = "<tr><th>attack</th><th>AUC</th><th>TPR at 0.1% FPR</th><th>TPR at 1% FPR</th><th>severity</th></tr>"
    return (
        f'<section id="membership-overview"><h2>Membership inference: every attack</h2>'
        f"<table>{head}{rows}</table><details><summary>ROC of every attack</summary><div class='plots'><figure>"
        f"{roc_overlay_svg(curves, 'ROC of every attack (log-log)')}</figure></div></details></section>"
    )


def _summary(summary: dict[str, Any], n_findings: int) -> str:
    """The verdict, a row per risk (asset, risk, severity, headline with interval, access, evidence,
    control), and what did not run."""
    rows = []
    for r in summary["risks"]:
        what = f"<td>{_e(r['asset'])}</td><td>{_e(r['risk'])}</td>"
        if r["finding"] is None:
            names = r.get("to_measure") or []
            how = f"add {', '.join(names)} to attacks" if names else "no mlaudit attack for this target yet"
            rows.append(f"<tr class='unmeasured'>{what}<td colspan='5' class='muted'>not measured: {_e(how)}</td></tr>")
            continue
        h = r["headline"]
        fig = (
            f"{_e(metric_words(h['metric']))} {_figure(h['metric'], h['value'], h['ci_low'], h['ci_high'])}"
            if h
            else ""
        )
        label = control_label(r["control"])
        ctl = f"<strong>{label}</strong>" if label == "NOT at chance" else _e(label)
        rows.append(
            f"<tr>{what}<td>{_sev(Severity.parse(r['severity']))}</td><td>{fig}</td><td>{_e(r['access'] or '')}</td>"
            f"<td><a href='#finding-{_e(r['finding'])}'>{_e(r['finding'])}</a></td><td>{ctl}</td></tr>"
        )
    head = (
        "<tr><th>asset</th><th>risk</th><th>severity</th><th>headline (95% interval)</th><th>adversary needs</th>"
        "<th>evidence</th><th>control</th></tr>"
    )
    extra = ""
    if summary["not_run"]:
        items = "".join(
            f"<li><code>{_e(s['attack'])}</code>: {_e(s['reason'])}; {_e(s['fix'])}</li>" for s in summary["not_run"]
        )
        extra += f"<p><strong>Not run</strong> (selected, requirements not met):</p><ul>{items}</ul>"
    if summary["failed"]:
        extra += f"<p><strong>Incomplete</strong>: jobs failed: {_e(', '.join(summary['failed']))} (see below).</p>"
    if summary["demonstrations"]:
        demos = ", ".join(f"<a href='#finding-{_e(d)}'>{_e(d)}</a>" for d in summary["demonstrations"])
        extra += f"<p class='muted'>Demonstrations on built-in data (not about this model): {demos}.</p>"
    worst = Severity.parse(summary["worst"])
    return (
        f"<section id='summary'><h2>{_sev(worst)}Summary</h2><p class='verdict'>{_e(summary['verdict'])}</p>"
        f"<table class='risks'>{head}{''.join(rows)}</table>{extra}"
        f"<p class='muted'>{n_findings} findings; each section below opens with its result and its control's verdict, "
        "what to do, and the evidence folded.</p></section>"
    )


def _errors(report: Report) -> str:
    """Jobs that failed: the audit is incomplete (the summary names them)."""
    if not report.errors:
        return ""
    rows = "".join(
        f"<tr><td>{_e(e.job)}</td><td>{_e(e.type)}: {_e(e.message)}</td><td>{_e(e.fix)}</td></tr>"
        for e in report.errors
    )
    return (
        "<section id='errors'><h2>Incomplete: jobs that failed</h2><p>These jobs raised; every other job ran "
        f"and is reported here.</p><table><tr><th>job</th><th>error</th><th>fix</th></tr>{rows}</table></section>"
    )


def _contents(findings: list[Finding]) -> str:
    items = "".join(f"<li>{_sev(f.severity)}<a href='#finding-{_e(f.id)}'>{_e(f.title)}</a></li>" for f in findings)
    return f"<nav id='contents'><h2>Contents</h2><ol>{items}</ol></nav>"


def render_html(report: Report) -> str:
    doc = measured(report.to_dict())
    summary = summarize(doc)
    data = {k: v for k, v in report.data.items() if k != "splits"}
    main = [f for f in report.findings if not f.id.endswith("-control")]
    name = _e(report.target.get("name", "target"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>mlaudit report: {name}</title><style>{_CSS}</style></head>
<body><header><h1>mlaudit report: {name}</h1>
<p>worst severity {_sev(report.worst())} · {len(main)} findings · created {_e(report.created)} · mlaudit {_e(report.mlaudit_version)}</p></header>
<main>
{_summary(summary, len(main))}
{_contents(main)}
{_errors(report)}
{_membership_overview(report)}
{_findings(report, doc)}
<section id="about"><h2>Threat model, target and data</h2>
<details id="threat-model"><summary>Threat model: {_e(report.threat_model.get("access"))} access</summary>{_kv_table(report.threat_model)}</details>
<details id="target"><summary>Target: {name}</summary>{_kv_table(report.target)}</details>
<details id="data"><summary>Data</summary>{_kv_table(data)}<p class="muted">Split indices and their sha256 are in report.json.</p></details>
</section>
</main></body></html>
"""


def write_html(report: Report, path: Path) -> Path:
    path.write_text(render_html(report), encoding="utf-8")
    return path
