"""The report's verdict, Markdown and `mlaudit compare`, on report documents built by hand: the worst
severity about the model (demonstrations aside), one row per risk with the headline the severity
follows, the control's verdict in null sigmas, numbers for people, and regressions found only when a
risk rises beyond both intervals (or a new finding appears) at or above --fail-on."""

from __future__ import annotations

import json

import pytest

from mlaudit.cli import main
from mlaudit.findings import Artifact, Finding, Metric, Report, Severity
from mlaudit.report.json import to_json, validate
from mlaudit.report.markdown import compare, report_markdown
from mlaudit.report.summary import figure


def _f(fid, category, attack, severity, metrics, summary="s") -> Finding:
    return Finding(
        id=fid, category=category, attack=attack, title=f"{fid} title", summary=summary,
        threat_model={"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"},
        metrics={k: Metric(*v) if isinstance(v, tuple) else Metric(v) for k, v in metrics.items()},
        severity=Severity.parse(severity), config={}, seed=0, duration_s=0.1, versions={},
        artifacts=(Artifact("roc", "ROC", {"fpr": [0, 1], "tpr": [0, 1]}),),
    )  # fmt: skip


def _report(*findings: Finding, skipped=()) -> Report:
    return Report(
        "0", "2026-11-30T00:00:00+00:00", {"name": "t", "adapter": "torch", "num_classes": 2, "kind": "torch"},
        {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"},
        {"seed": 0}, findings, {}, tuple(skipped),
    )  # fmt: skip


def _doc(report: Report) -> dict:
    doc = json.loads(to_json(report))
    validate(doc)  # the schema holds the summary and the mitigations
    return doc


MIA = {"auc": (0.7, 0.66, 0.74), "tpr_at_0.01_fpr": (0.12, 0.10, 0.14), "auc_null_sigma": 0.02}


def test_the_verdict_follows_the_worst_finding_about_the_model_not_a_demonstration():
    doc = _doc(
        _report(
            _f("lira", "membership", "lira", "medium", MIA, "LiRA finds members"),
            _f("lira-control", "membership", "lira", "info", {"auc": 0.55, "auc_null_sigma": 0.02}),
            _f("loss", "membership", "loss", "low", {"auc": 0.6, "tpr_at_0.01_fpr": (0.02, 0.01, 0.03)}),
            _f("backdoor-demo", "privacy_backdoor", "backdoor-demo", "high", {"traps": 10.0}),
            _f("model-inversion", "inversion", "model-inversion", "low",
               {"optimisation_attack_accuracy": (0.1, 0.0, 0.3), "generative_attack_accuracy": (0.8, 0.5, 0.9)}),
            skipped=[{"attack": "rmia", "reason": "no references", "fix": "add recipe:"}],
        )
    )  # fmt: skip
    s = doc["summary"]
    assert s["worst"] == "medium" and s["verdict"] == "Worst risk MEDIUM: LiRA finds members"
    assert s["demonstrations"] == ["backdoor-demo"] and s["not_run"][0]["attack"] == "rmia"
    rows = {r["risk"]: r for r in s["risks"]}
    mia = rows["membership inference"]
    assert (mia["finding"], mia["severity"], mia["access"], mia["findings"]) == (
        "lira", "medium", "probabilities", ["lira", "loss"]
    )  # fmt: skip
    assert mia["headline"]["metric"] == "tpr_at_0.01_fpr" and mia["headline"]["ci_low"] == 0.10
    # control: (0.55 - 0.5) / 0.02 = 2.5 sigma: at chance (within 4)
    assert mia["control"]["z"] == pytest.approx(2.5) and mia["control"]["at_chance"] is True
    inv = rows["reconstruction / inversion"]
    assert inv["headline"]["metric"] == "generative_attack_accuracy"  # the stronger of the two attacks
    assert rows["attribute inference"]["finding"] is None
    assert rows["attribute inference"]["to_measure"] == ["attribute-inference"]
    assert rows["tampered weights (privacy backdoors)"]["finding"] is None  # the demo is not about this model
    assert all(f["mitigations"] for f in doc["findings"] if f["category"] == "membership")


def test_a_control_beyond_four_sigma_is_not_at_chance():
    doc = _doc(
        _report(
            _f("loss", "membership", "loss", "low", MIA),
            _f("loss-control", "membership", "loss", "info", {"auc": 0.59, "auc_null_sigma": 0.02}),
        )
    )
    c = doc["summary"]["risks"][0]["control"]
    assert c["z"] == pytest.approx(4.5) and c["at_chance"] is False
    assert "**NOT at chance**" in report_markdown(doc)


@pytest.mark.parametrize(
    "name, value, lo, hi, text",
    [
        ("tpr_at_0.01_fpr", 0.0002423, 0.0001, 0.0009, "0.0242% [0.01%, 0.09%]"),
        ("auc", 0.654321, 0.61, 0.7, "0.654 [0.61, 0.7]"),
        ("max_exposure", 29.934, None, None, "29.9"),
        ("white_box_success", float("nan"), None, None, "not measured"),
    ],
)
def test_numbers_are_written_for_people(name, value, lo, hi, text):
    assert figure(name, value, lo, hi) == text


def _pair(tmp_path, before: Report, after: Report):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(to_json(before))
    b.write_text(to_json(after))
    return a, b


def test_compare_finds_a_rise_beyond_the_intervals_and_exits_1(tmp_path, capsys):
    before = _report(_f("lira", "membership", "lira", "medium", MIA), _f("loss", "membership", "loss", "low", MIA))
    higher = {**MIA, "tpr_at_0.01_fpr": (0.2, 0.17, 0.23)}  # 0.17 > 0.14: beyond both intervals
    overlapping = {**MIA, "tpr_at_0.01_fpr": (0.15, 0.13, 0.17)}  # 0.13 < 0.14: within
    after = _report(
        _f("lira", "membership", "lira", "high", higher), _f("loss", "membership", "loss", "low", overlapping)
    )
    changes = {c.id: c for c in compare(_doc(before), _doc(after), Severity.HIGH)}
    assert (changes["lira"].status, changes["lira"].regression) == ("up", True)
    assert (changes["loss"].status, changes["loss"].regression) == ("same", False)
    a, b = _pair(tmp_path, before, after)
    assert main(["compare", str(a), str(b), "--output", str(tmp_path / "summary.md")]) == 1
    out = capsys.readouterr().out
    assert "**1 regression(s)** at or above high: lira" in out and "| `loss` | low -> low |" in out
    assert (tmp_path / "summary.md").read_text() == out
    # the same rise below --fail-on critical is reported, not failed on
    assert main(["compare", str(a), str(b), "--fail-on", "critical"]) == 0


def test_compare_fails_on_a_new_severe_finding_and_passes_a_drop(tmp_path, capsys):
    before = _report(_f("lira", "membership", "lira", "high", {**MIA, "tpr_at_0.01_fpr": (0.2, 0.17, 0.23)}))
    after = _report(
        _f("lira", "membership", "lira", "medium", MIA),
        _f("evasion", "evasion", "evasion", "high", {"white_box_success": (0.9, 0.85, 0.94)}),
    )
    changes = {c.id: c for c in compare(_doc(before), _doc(after), Severity.HIGH)}
    assert (changes["lira"].status, changes["lira"].regression) == ("down", False)
    assert (changes["evasion"].status, changes["evasion"].regression) == ("new", True)
    assert compare(_doc(after), _doc(before), Severity.HIGH)[-1].status == "gone"


def test_compare_refuses_a_file_that_is_not_a_report(tmp_path, capsys):
    (tmp_path / "x.json").write_text(json.dumps({"findings": []}))
    good, _ = _pair(tmp_path, _report(), _report())
    assert main(["compare", str(good), str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "is not an mlaudit report of this version" in err and len(err.strip().splitlines()) == 1


def test_the_page_puts_the_summary_first_controls_inside_and_mitigations_once_per_kind():
    from mlaudit.report.html import render_html

    page = render_html(
        _report(
            _f("lira", "membership", "lira", "medium", MIA),
            _f("lira-control", "membership", "lira", "info", {"auc": 0.5, "auc_null_sigma": 0.02}),
            _f("loss", "membership", "loss", "low", MIA),
            _f("poisoning-demo", "poisoning", "poisoning-demo", "medium", {"badnets_asr": (0.9, 0.8, 0.95)}),
            _f("backdoor-scan", "poisoning", "backdoor-scan", "low", {"flagged_labels": 1.0}),
        )
    )
    main = page[page.index("<main>") :]
    assert main.index("id='summary'") < main.index("id='contents'") < main.index('id="finding-lira"')
    assert main.index('id="finding-lira"') < main.index("id='lira-control'") < main.index('id="finding-loss"')
    assert 'id="finding-lira-control"' not in page  # no section of its own
    assert "control AUC 0.500, at chance (+0.0 sigma)" in page
    assert page.count("Fine-tune with differential privacy") == 1  # once, for lira; loss points back to it
    assert "What to do: <span class='muted'>as for <a href='#finding-lira'>lira</a>" in page
    # the backdoor scan this audit ran is shown beside the poisoning mitigations
    assert "Measured in this audit: <a href='#finding-backdoor-scan'>backdoor-scan</a> (flagged labels 1)" in page
    assert main.index('id="about"') > main.index('id="finding-backdoor-scan"')


def test_a_control_that_could_not_be_measured_is_not_called_biased():
    """A control without a null sigma has no verdict: its cell says so (it read "NOT at chance" before)."""
    doc = _doc(
        _report(
            _f("loss", "membership", "loss", "low", MIA),
            _f("loss-control", "membership", "loss", "info", {"auc": 0.7}),
        )
    )
    row = doc["summary"]["risks"][0]
    assert row["control"]["at_chance"] is None
    assert "| probabilities | not measured |" in report_markdown(doc)
