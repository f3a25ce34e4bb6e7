"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external resources)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from mlaudit.findings import Finding, Report, Severity
from mlaudit.report.plots import DRAW

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
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return _e(", ".join(map(str, v))) if v else "<span class='muted'>none</span>"
    return _e(v) if v is not None else "<span class='muted'>none</span>"


_WORDS = {
    "auc": "AUC",
    "auc_null_sigma": "AUC spread at chance (null sigma)",
    "advantage": "membership advantage (TPR - FPR, best threshold)",
    "n_members": "members",
    "n_nonmembers": "non-members",
}


def metric_words(name: str) -> str:
    """A metric key in words for people (report.json keeps the key): tpr_at_0.001_fpr -> TPR at 0.1% FPR."""
    if name in _WORDS:
        return _WORDS[name]
    m = re.fullmatch(r"tpr_at_([0-9.]+)_fpr(_over_reference_draws)?", name)
    if m:
        words = f"TPR at {100 * float(m.group(1)):g}% FPR"
        return words + (", over reference-model draws" if m.group(2) else "")
    if name == "auc_over_reference_draws":
        return "AUC, over reference-model draws"
    text = name.replace("_", " ")
    return re.sub(r"\beps([0-9.]+)", r"at eps \1", text)


def _metrics_table(f: Finding) -> str:
    rows = []
    for name, m in f.metrics.items():
        ci = f"[{m.ci_low:.4g}, {m.ci_high:.4g}]" if m.ci_low is not None and m.ci_high is not None else ""
        rows.append(
            f"<tr><td title='{_e(name)}'>{_e(metric_words(name))}</td><td>{m.value:.4g}</td><td>{ci}</td>"
            f"<td class='muted'>{_e(m.method or '')}</td></tr>"
        )
    head = "<tr><th>metric</th><th>value</th><th>interval</th><th>method</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _cell(v: Any, percent: bool) -> str:
    """A table cell: numbers formatted here (report.json keeps them as numbers)."""
    if isinstance(v, float):
        return f"{v:.2%}" if percent else f"{v:.4g}"
    return _e(v)


def _table(data: dict[str, Any], title: str = "") -> str:
    cols = data["columns"]
    pct = [c in data.get("percent_columns", ()) for c in cols]
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(c, p)}</td>" for c, p in zip(row, pct, strict=False)) + "</tr>"
        for row in data["rows"]
    )
    caption = f"<caption class='muted'>{_e(title)}</caption>" if title else ""
    return f"<table>{caption}<tr>{head}</tr>{rows}</table>"


def _finding(f: Finding) -> str:
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
    return (
        f'<section class="finding" id="finding-{_e(f.id)}" data-severity="{f.severity.name.lower()}">'
        f"<h2>{_sev(f.severity)}{_e(f.title)} <span class='muted'>({_e(f.id)})</span></h2>"
        f"<p>{_e(f.summary)}</p>{_metrics_table(f)}{tables}<div class='plots'>{figs}</div>"
        f"<p class='muted'>attack <code>{_e(f.attack)}</code> · category {_e(f.category)} · seed {f.seed} · "
        f"{f.duration_s:.2f} s · {f.config.get('queries', 0)} queries</p></section>"
    )


def _membership_overview(report: Report) -> str:
    """All membership attacks (not their controls): one log-log ROC plot and a comparison table."""
    from mlaudit.report.plots import roc_overlay_svg

    mia = [f for f in report.findings if f.category == "membership" and not f.id.endswith("-control")]
    curves = [(f.id, a.data["fpr"], a.data["tpr"]) for f in mia for a in f.artifacts if a.kind == "roc"]
    if len(curves) < 2:
        return ""

    def cell(f: Finding, key: str, fmt: str) -> str:
        m = f.metrics.get(key)
        return format(m.value, fmt) if m is not None else ""

    rows = "".join(
        f"<tr><td>{_e(f.id)}</td><td>{cell(f, 'auc', '.3f')}</td><td>{cell(f, 'tpr_at_0.001_fpr', '.2%')}</td>"
        f"<td>{cell(f, 'tpr_at_0.01_fpr', '.2%')}</td><td>{_sev(f.severity)}</td></tr>"
        for f in mia
    )
    head = "<tr><th>attack</th><th>AUC</th><th>TPR at 0.1% FPR</th><th>TPR at 1% FPR</th><th>severity</th></tr>"
    return (
        f'<section id="membership-overview"><h2>Membership inference: every attack</h2>'
        f"<div class='plots'><figure>{roc_overlay_svg(curves, 'ROC of every attack (log-log)')}</figure>"
        f"<table>{head}{rows}</table></div></section>"
    )


def _not_run(report: Report) -> str:
    """Jobs that failed (the audit is incomplete) and selected attacks that were skipped, with the fix."""
    out = ""
    if report.errors:
        rows = "".join(
            f"<tr><td>{_e(e.job)}</td><td>{_e(e.type)}: {_e(e.message)}</td><td>{_e(e.fix)}</td></tr>"
            for e in report.errors
        )
        out += (
            "<section id='errors'><h2>Incomplete: jobs that failed</h2><p>These jobs raised; every other job ran "
            f"and is reported below.</p><table><tr><th>job</th><th>error</th><th>fix</th></tr>{rows}</table></section>"
        )
    if report.skipped:
        rows = "".join(
            f"<tr><td>{_e(s['attack'])}</td><td>{_e(s['reason'])}</td><td>{_e(s['fix'])}</td></tr>"
            for s in report.skipped
        )
        out += (
            "<section id='skipped'><h2>Not run</h2><table><tr><th>attack</th><th>why</th><th>to enable it</th></tr>"
            f"{rows}</table></section>"
        )
    return out


def render_html(report: Report) -> str:
    worst = report.worst()
    data = {k: v for k, v in report.data.items() if k != "splits"}
    overview = "".join(
        f"<tr><td>{_sev(f.severity)}</td><td><a href='#finding-{_e(f.id)}'>{_e(f.title)}</a></td>"
        f"<td class='muted'>{_e(f.id)}</td></tr>"
        for f in report.findings
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>mlaudit report: {_e(report.target.get("name", "target"))}</title><style>{_CSS}</style></head>
<body><header><h1>mlaudit report: {_e(report.target.get("name", "target"))}</h1>
<p>{len(report.findings)} findings · worst severity {_sev(worst)} · created {_e(report.created)} · mlaudit {_e(report.mlaudit_version)}</p></header>
<main>
<section id="threat-model"><h2>Threat model</h2>{_kv_table(report.threat_model)}</section>
<section id="target"><h2>Target</h2>{_kv_table(report.target)}</section>
<section id="data"><h2>Data</h2>{_kv_table(data)}<p class="muted">Split indices and their sha256 are in report.json.</p></section>
<section id="overview"><h2>Findings</h2><table>{overview}</table></section>
{_not_run(report)}
{_membership_overview(report)}
{"".join(_finding(f) for f in report.findings)}
</main></body></html>
"""


def write_html(report: Report, path: Path) -> Path:
    path.write_text(render_html(report), encoding="utf-8")
    return path
