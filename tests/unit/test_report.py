import json
import math

import jsonschema
import numpy as np
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


def test_roc_line_draws_a_tie_from_the_origin_down_to_the_floor():
    """LOSS with tied scores: sklearn's first ROC point after the origin is (0.03, 0.06). A step plot on
    log axes started at FPR 3% (the curve was invisible at low FPR); the segment from the origin is the
    expected ROC under random tie-breaking, TPR = 2 * FPR, drawn down to the floor."""
    from mlaudit.report.plots import roc_line

    x, y = roc_line([0.0, 0.03, 1.0], [0.0, 0.06, 1.0], floor=1e-4)
    assert x[0] == pytest.approx(1e-4) and y[0] == pytest.approx(2e-4)
    np.testing.assert_allclose(y[x <= 0.03], 2 * x[x <= 0.03])
    sx, sy = roc_line([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.4, 0.4, 1.0, 1.0], floor=1e-4)  # no ties: steps
    assert set(np.round(sy, 9)) <= {0.4, 1.0}


def test_metric_keys_read_as_words():
    from mlaudit.report.summary import metric_words

    assert metric_words("tpr_at_0.001_fpr") == "TPR at 0.1% FPR"
    assert metric_words("tpr_at_0.01_fpr_over_reference_draws") == "TPR at 1% FPR, over reference-model draws"
    assert metric_words("robust_accuracy_pgd_eps0.1") == "robust accuracy pgd at eps 0.1"


def test_report_json_names_image_files_instead_of_holding_base64(tmp_path):
    """Before, 836 KB of a 1.41 MB report.json was base64 PNG; now each image is a file beside it."""
    import base64
    import hashlib

    from mlaudit.report.json import write_json

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    grid = Artifact("image_grid", "g", {"png_base64": base64.b64encode(png).decode()})
    table = Artifact("table", "t", {"columns": ["a"], "rows": [[1.5]]})
    f = Finding(**{**_finding().__dict__, "artifacts": (grid, table)})
    write_json(_report(f), tmp_path / "report.json")
    doc = json.loads((tmp_path / "report.json").read_text())
    data = doc["findings"][0]["artifacts"][0]["data"]
    assert data == {"path": "figures/loss-1.png", "sha256": hashlib.sha256(png).hexdigest(), "bytes": len(png)}
    assert (tmp_path / "figures" / "loss-1.png").read_bytes() == png
    assert doc["findings"][0]["artifacts"][1]["data"]["rows"] == [[1.5]]  # a number, not "1.5"
    bad = json.loads(json.dumps(doc))
    bad["findings"][0]["artifacts"][0]["data"] = {"path": "x.png"}  # no hash: refused by the schema
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
