import json
import math

import jsonschema
import pytest

from mlaudit.findings import Artifact, Finding, Metric, Report, Severity, finding_from_dict
from mlaudit.report.html import render_html
from mlaudit.report.json import to_json, validate


def _finding(id="loss", title="<b>LOSS</b>"):
    return Finding(
        id=id,
        category="membership",
        attack="loss",
        title=title,
        summary="s & t",
        threat_model={"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"},
        metrics={"auc": Metric(0.6, 0.55, 0.65, "Hanley-McNeil 95%")},
        severity=Severity.MEDIUM,
        config={"queries": 10},
        seed=0,
        duration_s=0.1,
        versions={"mlaudit": "0"},
        artifacts=(
            Artifact("roc", "ROC", {"fpr": [0, 0.01, 1], "tpr": [0, 0.2, 1]}),
            Artifact("histogram", "h", {"edges": [0, 1, 2], "series": {"a": [1, 2]}}),
        ),
    )


def _report(*findings):
    return Report(
        "0.1.0",
        "2026-01-01T00:00:00+00:00",
        {"name": "t", "adapter": "TorchTarget", "num_classes": 2, "kind": "torch"},
        findings[0].threat_model,
        {"seed": 0},
        findings,
        {"seed": 0},
    )


def test_json_validates_and_round_trips():
    f = _finding()
    doc = json.loads(to_json(_report(f)))
    validate(doc)
    assert finding_from_dict(doc["findings"][0]) == f


def test_schema_rejects_bad_documents():
    doc = json.loads(to_json(_report(_finding())))
    doc["findings"][0]["severity"] = "severe"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
    del doc["created"]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_html_has_every_finding_escaped_with_inline_svg():
    page = render_html(_report(_finding("a"), _finding("b")))
    assert 'id="finding-a"' in page and 'id="finding-b"' in page
    assert "&lt;b&gt;LOSS&lt;/b&gt;" in page and "<b>LOSS</b>" not in page
    # two ROC + histogram per finding, and the overview plot of every membership attack
    assert page.count("<svg") == 5 and 'id="membership-overview"' in page
    assert "http://" not in page.split("<svg")[0]  # no external resources
    assert "<script" not in page


def test_a_value_that_could_not_be_measured_is_null_not_a_crash():
    """A rate over no inputs or a median of no successes is NaN; report.json says null (not measured)."""
    import dataclasses

    f = dataclasses.replace(_finding(), metrics={"cw_l2_median": Metric(float("nan")), "auc": Metric(0.6)})
    doc = json.loads(to_json(_report(f)))
    validate(doc)
    assert doc["findings"][0]["metrics"]["cw_l2_median"]["value"] is None
    assert doc["findings"][0]["metrics"]["auc"]["value"] == 0.6
    back = finding_from_dict(doc["findings"][0])  # a resumed audit reads it back as not measured (NaN)
    assert math.isnan(back.metrics["cw_l2_median"].value)
