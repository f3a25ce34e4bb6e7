"""The defence comparison's pieces (defenses.comparison, config `defenses:`): the variants train as the
config says (DP through DPFit at each epsilon, the baselines' settings), early stopping stops on the
held-out loss and keeps the best epoch, the severity policy flags an audit that refutes the accountant,
the finding names the strongest attack and says whether intervals are disjoint, and bad config is one
line naming the value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit.config import AuditConfig, DefensesConfig, DPDefenceConfig, from_dict
from mlaudit.defenses.comparison import (
    DefenceRow,
    EarlyStopping,
    comparison_finding,
    comparison_severity,
    variants,
)
from mlaudit.defenses.dp.train import DPFit
from mlaudit.errors import ConfigError, InputError
from mlaudit.findings import Metric, Severity
from mlaudit.models import MLP, TrainConfig


def test_variants_follow_the_config():
    d = DefensesConfig(dp=DPDefenceConfig(epsilons=(8.0, 1.0)), baselines=("weight_decay", "label_smoothing",
                                                                         "early_stopping"))  # fmt: skip
    base = TrainConfig(epochs=7, batch_size=32, lr=1e-3)
    vs = variants(d, base, n_train=1000, mode="ghost")
    assert [v.name for v in vs] == ["dp-1", "dp-8", "weight-decay", "label-smoothing", "early-stopping"]
    dp1 = vs[0].config.fit
    assert isinstance(dp1, DPFit) and dp1.epsilon == 1.0 and dp1.delta == 1e-5 and dp1.mode == "ghost"
    assert dp1.config == base and vs[0].epsilon == 1.0  # the recipe itself, made private
    assert vs[2].config.weight_decay == 5e-4 and vs[2].config.fit is None and vs[2].config.epochs == 7
    assert vs[3].config.label_smoothing == 0.1
    assert isinstance(vs[4].config.fit, EarlyStopping) and vs[4].config.fit.config == base
    big = variants(DefensesConfig(dp=DPDefenceConfig(epsilons=(2.0,))), base, n_train=50_000)
    assert big[0].delta == pytest.approx(2e-6)  # 1 / (10 n) past 10,000 rows: below 1 / n


def test_an_output_defence_answers_through_the_audited_model():
    """outputs: [top_k]: no retraining (no recipe needed), the target answers top-1 rows, RMIA's recorded
    population outputs of the target are the defended rows too, and the threat model says top_k."""
    from mlaudit.attacks.base import AttackInputs
    from mlaudit.attacks.references import References
    from mlaudit.scenarios.defended import defended_setup
    from mlaudit.scenarios.record import AuditSetup
    from mlaudit.targets import TorchTarget
    from mlaudit.threat import ThreatModel

    (v,) = variants(DefensesConfig(outputs=("top_k",)), None, n_train=10)
    assert v.output is not None and v.label == "served output: top_k (k 1)"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        target = TorchTarget(MLP(in_features=4, num_classes=3, hidden=(8,)), num_classes=3)
    pop = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    refs = References(np.arange(2), np.zeros(2, int), np.zeros((1, 2, 3)), np.zeros((1, 2), bool), np.zeros((1, 2, 3)),
                      pop, np.zeros(2, int))  # fmt: skip
    setup = AuditSetup(target, ThreatModel(), {"main": AttackInputs(references=refs)}, {}, {})
    ds = defended_setup(setup, v, ["rmia"], n_references=1, seed=0, cache=None)
    assert ds.threat_model.output == "top_k" and ds.target is not target
    np.testing.assert_array_equal(ds.inputs["main"].references.population_target, [[0, 0.5, 0], [0.6, 0, 0]])
    rows = ds.target.probabilities(np.ones((5, 4), np.float32))
    assert ((rows > 0).sum(1) == 1).all()  # one class per answer


def test_early_stopping_stops_on_the_held_out_loss_and_keeps_the_best_epoch(monkeypatch):
    """Labels are noise: the held-out loss is lowest early and rises as the MLP memorises; 40 epochs are
    asked, training stops 3 epochs after the best one, and the weights kept give the best held-out loss."""
    import mlaudit.defenses.comparison as comparison

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 20)).astype(np.float32), rng.integers(0, 2, 200)
    losses: list[float] = []
    order = torch.randperm(200, generator=torch.Generator().manual_seed(0)).numpy()
    xv, yv = torch.as_tensor(x[order[:20]]), torch.as_tensor(y[order[:20]])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=20, num_classes=2, hidden=(64,))
    real = comparison.train

    def recording(*a, after_epoch, **kw):
        def spy(e: int) -> bool:
            with torch.no_grad():
                losses.append(float(torch.nn.functional.cross_entropy(model(xv), yv)))
            return bool(after_epoch(e))

        return real(*a, after_epoch=spy, **kw)

    monkeypatch.setattr(comparison, "train", recording)
    EarlyStopping(TrainConfig(epochs=40, batch_size=20, lr=1e-2))(model, x, y, seed=0)
    best = int(np.argmin(losses))
    assert len(losses) == best + 1 + 3 < 40, losses  # stopped 3 epochs after the best, well before 40
    with torch.no_grad():
        kept = float(torch.nn.functional.cross_entropy(model(xv), yv))
    assert kept == pytest.approx(losses[best], abs=1e-6) and kept < losses[-1]  # the best epoch's weights


def _row(name, tpr, lo, hi, acc, eps=None, audited=None):
    m = {"tpr": Metric(tpr, lo, hi), "auc": Metric(0.5 + tpr, 0.45 + tpr, 0.55 + tpr)}
    return DefenceRow(name, name, acc, {"lira": m, "loss": {"tpr": Metric(0.01, 0, 0.02), "auc": Metric(0.6)}},
                      eps, 1e-5 if eps else None, audited)  # fmt: skip


def test_the_finding_reports_the_strongest_attack_and_disjoint_intervals():
    rows = [_row("undefended", 0.30, 0.27, 0.33, 0.85), _row("dp-8", 0.02, 0.01, 0.03, 0.80, 7.99, 4.4),
            _row("dp-1", 0.25, 0.22, 0.34, 0.70, 1.0, 0.2)]  # fmt: skip
    f = comparison_finding(rows, threat_model={}, config={}, seed=0, started=0.0)
    assert f.config["strongest_attack"] == "lira" and f.severity == Severity.INFO and f.category == "dp_audit"
    assert "dp-8: 2.0% [1.0, 3.0] (lower, intervals disjoint)" in f.summary
    assert "dp-1: 25.0% [22.0, 34.0] (not measurably lower (intervals overlap))" in f.summary
    assert f.metrics["dp-8_epsilon_lower_bound"].value == 4.4 and f.metrics["epsilon_lower_bound"].value == 4.4
    table, plot = f.artifacts
    assert table.data["rows"][1][:5] == ["dp-8", 7.99, 4.4, "-", 0.8] and plot.kind == "privacy_utility"
    assert [p["tpr"] for p in plot.data["points"]] == [0.30, 0.02, 0.25]


def test_only_attacks_run_on_every_model_are_compared():
    """LiRA missing on a defended model (say its references could not be trained): LOSS alone is
    compared, not a LiRA figure against nothing; with no common attack, InputError."""
    a, b = _row("undefended", 0.3, 0.27, 0.33, 0.85), _row("dp-8", 0.02, 0.01, 0.03, 0.8, 7.99, 4.4)
    b = DefenceRow(b.name, b.label, b.test_accuracy, {"loss": b.attacks["loss"]}, b.epsilon, b.delta)
    f = comparison_finding([a, b], threat_model={}, config={}, seed=0, started=0.0)
    assert f.config["strongest_attack"] == "loss" and "lira" not in str(f.artifacts[0].data["columns"])
    c = DefenceRow("x", "x", 0.5, {"rmia": a.attacks["lira"]})
    with pytest.raises(InputError, match="no attack"):
        comparison_finding([a, c], threat_model={}, config={}, seed=0, started=0.0)


def test_an_audit_above_the_accountant_is_high():
    ok = [_row("undefended", 0.3, 0.27, 0.33, 0.85), _row("dp-1", 0.05, 0.03, 0.07, 0.8, 1.0, 0.7)]
    bad = [*ok[:1], _row("dp-1", 0.05, 0.03, 0.07, 0.8, 1.0, 1.6)]
    assert comparison_severity(ok) == Severity.INFO and comparison_severity(bad) == Severity.HIGH
    assert "refutes the accountant for dp-1" in comparison_finding(bad, threat_model={}, config={}, seed=0,
                                                                  started=0.0).summary  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"dp": {"epsilons": [0]}}, "epsilons must be numbers in (0, 100]"),
        ({"dp": {"epsilons": [8], "accountant": "gdp"}}, "unknown defenses.dp.accountant 'gdp'"),
        ({"baselines": ["dropout"]}, "unknown defenses.baselines entry 'dropout'"),
        ({}, "names no defence"),
        ({"outputs": ["blur"]}, "unknown defenses.outputs entry 'blur'"),
        ({"dp": {"audit_canaries": 10}}, "audit_canaries must be 0"),
        ({"dp": {}, "attack": ["lira"]}, "unknown key 'attack' in config.defenses (did you mean 'attacks'?)"),
    ],
)
def test_bad_defences_config_is_one_line(raw, message):
    with pytest.raises(ConfigError, match=None) as e:
        from_dict(AuditConfig, {"defenses": raw})
    assert message in str(e.value), str(e.value)


def test_defences_need_a_torch_recipe():
    own = {"target": {"kind": "sklearn", "path": "m.skops"}, "data": {"members": {"source": "npz", "path": "a"},
           "nonmembers": {"source": "npz", "path": "b"}}, "defenses": {"dp": {}}}  # fmt: skip
    with pytest.raises(ConfigError, match="need target kind torch"):
        from_dict(AuditConfig, own)
    with pytest.raises(ConfigError, match="fashion-mnist scenario"):
        from_dict(AuditConfig, {"target": {"scenario": "cps1988-forest"}, "defenses": {"dp": {}}})
    # output defences retrain nothing: any target may have them (a forest, a served model)
    assert from_dict(AuditConfig, {**own, "defenses": {"outputs": ["round"]}}).defenses.outputs == ("round",)


def test_a_target_without_a_torch_recipe_is_refused_before_any_work():
    """A Hugging Face text classifier's setup has no torch recipe (its references fine-tune with
    transformers): the comparison is refused with the reason, as the runner asks before any attack runs."""
    from mlaudit.attacks.base import AttackInputs
    from mlaudit.errors import InputError
    from mlaudit.scenarios.defended import trainable
    from mlaudit.scenarios.record import AuditSetup
    from mlaudit.threat import ThreatModel

    setup = AuditSetup(None, ThreatModel(), {"main": AttackInputs()}, {}, {})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="Hugging Face image classifier with base"):
        trainable(setup)
