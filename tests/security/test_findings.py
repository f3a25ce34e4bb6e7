"""The audit's evasion and poisoning findings, built on the digits MLP with small budgets: the records
are consistent (rates inside their intervals, robust <= clean), and severity follows the threat model."""

from __future__ import annotations

import numpy as np
import torch

from mlaudit.attacks.evasion.finding import EvasionBudget, evasion_finding
from mlaudit.defenses.backdoor.finding import backdoor_scan_finding, poisoning_demo_finding
from mlaudit.findings import Severity
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.targets import TorchTarget
from mlaudit.threat import Access, ThreatModel

SMALL = EvasionBudget(
    n_examples=60,
    pgd_steps=10,
    apgd_steps=10,
    n_target_classes=1,
    square_queries=100,
    hsj_examples=3,
    hsj_queries=200,
    cw_examples=5,
    eps=0.3,
    eps_grid=(0.0, 0.1, 0.2, 0.3),  # 8x8 digits need a larger eps
)


def test_evasion_finding_is_consistent_and_severity_follows_access(digits01, digits_mlp):
    x, y = digits01
    kw = {"budget": SMALL, "seed": 0, "threat_model": {}, "surrogate": digits_mlp}
    f = evasion_finding(TorchTarget(digits_mlp, num_classes=10), x[1200:], y[1200:], access=Access.GRADIENTS, **kw)
    m = f.metrics
    assert m["robust_accuracy_standard"].value <= m["clean_accuracy"].value
    for k in ("clean_accuracy", "white_box_success", "square_success", "transfer_surrogate-pgd"):
        assert m[k].ci_low <= m[k].value <= m[k].ci_high
    assert m["white_box_success"].value > 0.9 and f.severity == Severity.HIGH
    assert {a.kind for a in f.artifacts} >= {"curve", "table", "image_grid"}
    curve = next(a for a in f.artifacts if a.kind == "curve").data
    assert all(b <= a for a, b in zip(curve["series"]["PGD-10"], curve["series"]["PGD-10"][1:], strict=False))
    # labels only: the white-box and score-based numbers do not set the severity
    target = TorchTarget(digits_mlp, num_classes=10)
    weak = evasion_finding(target, x[1200:], y[1200:], access=Access.LABELS, **{**kw, "surrogate": None})
    assert weak.metrics["white_box_success"].value == m["white_box_success"].value
    hsj = weak.metrics["hopskipjump_within_eps"].value
    assert weak.severity <= f.severity and (hsj < 0.5 or weak.severity == Severity.HIGH)


def _fit(x, y):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = MLP(in_features=64, num_classes=10, hidden=(128,))
    train(m, x, y, TrainConfig(epochs=30, batch_size=64, lr=3e-3), generator=torch.Generator().manual_seed(0))
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


def test_poisoning_demo_and_backdoor_scan_findings(digits01, digits_mlp):
    x, y = digits01
    f = poisoning_demo_finding(
        _fit,
        x[:1200],
        y[:1200],
        x[1200:],
        y[1200:],
        clean_model=digits_mlp,
        surrogate=digits_mlp,
        num_classes=10,
        nc_epochs=5,
        seed=0,
        threat_model={},
    )
    m = f.metrics
    assert m["badnets_asr"].value >= 0.9 and m["badnets_asr"].ci_low <= m["badnets_asr"].value
    assert {"badnets_asr", "blended_asr", "label-consistent_asr", "spectral_signatures_recall"} <= set(m)
    assert f.severity == Severity.MEDIUM
    assert [a.kind for a in f.artifacts].count("image_grid") == 2
    scan = backdoor_scan_finding(digits_mlp, x[1200:1500], 10, epochs=5, seed=0, threat_model={})
    fw = scan.metrics["familywise_threshold"].value
    assert 3.0 < fw < 5.0  # the largest of 10 normal labels' indices: 95% quantile about 3.85
    assert scan.severity == (Severity.HIGH if scan.metrics["max_anomaly_index"].value > fw else scan.severity)
    assert scan.severity <= Severity.LOW or scan.metrics["max_anomaly_index"].value > fw
    assert np.isfinite(scan.metrics["max_anomaly_index"].value)


def test_security_jobs_planned_only_for_image_classifiers_in_unit_range(digits01, digits_mlp):
    from mlaudit.attacks.base import AttackInputs
    from mlaudit.data import Dataset
    from mlaudit.runner.plan import plan, selected
    from mlaudit.scenarios.record import AuditSetup
    from mlaudit.threat import ThreatModel

    x, y = digits01

    def jobs(data: Dataset) -> tuple[list[str], dict[str, str]]:
        setup = AuditSetup(
            TorchTarget(digits_mlp, num_classes=10), ThreatModel(), {"main": AttackInputs(data, data)}, {}, {}
        )
        planned, skipped = plan(selected(("profile", "loss"), "quick"), setup, "quick", 0)
        security = {"evasion", "backdoor-scan", "poisoning-demo"}
        return [j.id for j in planned if j.id in security], {s.attack: s.reason for s in skipped}

    classes = tuple(str(i) for i in range(10))
    ran, skipped = jobs(Dataset(x[:50], y[:50], classes, "d", "image"))
    assert ran == ["evasion", "backdoor-scan"] and "recipe" in skipped["poisoning-demo"]  # no recipe
    ran, skipped = jobs(Dataset(255 * x[:50], y[:50], classes, "d", "image"))
    assert ran == [] and "[0, 1]" in skipped["evasion"]  # unscaled pixels: skipped, with the reason
    ran, skipped = jobs(Dataset(x[:50].reshape(50, 64), y[:50], classes, "d", "tabular"))
    assert ran == [] and "image" in skipped["evasion"]
    # as the runner plans: sections of the profile for another kind of data are left out of the report
    # (not a gap: evasion on a table, word substitution on images); named by the config, they are listed
    from mlaudit.runner.plan import named

    tab = Dataset(x[:50].reshape(50, 64), y[:50], classes, "d", "tabular")
    setup = AuditSetup(TorchTarget(digits_mlp, num_classes=10), ThreatModel(), {"main": AttackInputs(tab, tab)}, {}, {})
    for attacks, listed in ((("profile", "loss"), set()), (("profile", "evasion"), {"evasion"})):
        _, sk = plan(selected(attacks, "quick"), setup, "quick", 0, named=named(attacks))
        assert {s.attack for s in sk} & {"evasion", "word-substitution", "backdoor-scan"} == listed
    img = Dataset(x[:50], y[:50], classes, "d", "image")
    setup = AuditSetup(TorchTarget(digits_mlp, num_classes=10), ThreatModel(), {"main": AttackInputs(img, img)}, {}, {})
    _, sk = plan(selected(("profile",), "quick"), setup, "quick", 0, named=named(("profile",)))
    assert "word-substitution" not in {s.attack for s in sk} and "poisoning-demo" in {s.attack for s in sk}


def test_a_query_budget_shortens_square_and_hopskipjump_and_holds(digits01, digits_mlp):
    """Square and HopSkipJump query the restricted Target: with a budget of 500 queries, Square attacks 2
    inputs (250 // 100 per input) and HopSkipJump 1 (250 // 200), and the target counted no more than
    500 queries; without a budget they attack every correct input (up to the budget's counts)."""
    x, y = digits01
    kw = {"budget": SMALL, "seed": 0, "threat_model": {}, "access": Access.GRADIENTS}
    tight = TorchTarget(digits_mlp, num_classes=10).restricted(ThreatModel(access=Access.WEIGHTS, query_budget=500))
    f = evasion_finding(tight, x[1200:], y[1200:], **kw)
    assert f.config["queries"] <= 500 and tight.queries <= 500
    rows = rows_of(f)
    assert rows["Square"][3].endswith("/2") and rows["HopSkipJump"][3].endswith("/1 within eps")
    free = evasion_finding(TorchTarget(digits_mlp, num_classes=10), x[1200:], y[1200:], **kw)
    n_ok = round(free.metrics["clean_accuracy"].value * SMALL.n_examples)
    assert rows_of(free)["Square"][3].endswith(f"/{n_ok}") and rows_of(free)["HopSkipJump"][3].endswith("/3 within eps")


def rows_of(f):
    return {r[0]: r for r in next(a for a in f.artifacts if a.title == "Attacks").data["rows"]}
