"""A failing job never loses an audit: it is recorded (job, type, message, fix), the other jobs run,
the report validates, and the CLI exits 3 (incomplete)."""

import json

from mlaudit.findings import Finding, Metric, Report, Severity
from mlaudit.report.html import render_html
from mlaudit.report.json import to_json, validate
from mlaudit.runner.local import SequentialExecutor
from mlaudit.runner.plan import Job

TM = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}


def _ok(id: str) -> Finding:
    return Finding(id, "membership", "x", "t", "s", TM, {"auc": Metric(0.5)}, Severity.INFO, {}, 0, 0.0, {})


def _boom() -> Finding:
    import mlaudit_missing_module  # noqa: F401  (the job fails the way a missing dependency does)

    raise AssertionError("unreachable")


def test_a_failing_job_is_recorded_and_the_others_run(tmp_path):
    jobs = [Job("a", "a", _ok, {"id": "a"}), Job("boom", "fails", _boom), Job("b", "b", _ok, {"id": "b"})]
    findings, errors = SequentialExecutor(tmp_path).run(jobs)
    assert [f.id for f in findings] == ["a", "b"]
    (e,) = errors
    assert (e.job, e.type) == ("boom", "ModuleNotFoundError") and "mlaudit_missing_module" in e.fix
    assert "Traceback" in e.traceback and not (tmp_path / "boom.json").exists()  # a rerun tries it again
    tm = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}
    target = {"name": "t", "adapter": "x", "num_classes": 2, "kind": "torch"}
    skipped = ({"attack": "lira", "reason": "lira needs reference models", "fix": "use a built-in target"},)
    report = Report("0", "2026-01-01T00:00:00+00:00", target, tm, {"seed": 0}, tuple(findings), {}, skipped, (e,))
    doc = json.loads(to_json(report))
    validate(doc)
    assert doc["errors"][0]["job"] == "boom" and "traceback" not in doc["errors"][0]
    html = render_html(report)
    assert "Incomplete: jobs that failed" in html and "lira needs reference models" in html


def test_the_cli_exits_3_when_a_job_failed(tmp_path, monkeypatch, capsys):
    from mlaudit import cli

    def fake_run_audit(cfg, out, **kw):
        _, errors = SequentialExecutor(None).run([Job("boom", "fails", _boom)])
        tm = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}
        target = {"name": "t", "adapter": "x", "num_classes": 2, "kind": "torch"}
        return Report("0", "2026-01-01T00:00:00+00:00", target, tm, {"seed": 0}, (), {}, (), tuple(errors))

    monkeypatch.setattr("mlaudit.runner.audit.run_audit", fake_run_audit)
    assert cli.main(["--debug", "audit", "--out", str(tmp_path)]) == 3
    out, err = capsys.readouterr()
    assert "FAILED] boom: ModuleNotFoundError" in out and "Traceback" in err
    assert json.loads((tmp_path / "report.json").read_text())["errors"][0]["job"] == "boom"
