"""Conformance over the attack registry: every attack declares its needs, is reproducible, and yields
a Finding that fits the report schema."""

import json

import numpy as np
import pytest
import torch

from mlaudit import Access, Finding, ThreatModel, ThreatModelError
from mlaudit.attacks import REGISTRY, AttackInputs, check_permitted, get_attack
from mlaudit.findings import Report
from mlaudit.report.json import to_json, validate


@pytest.fixture(scope="module")
def reference_inputs(digits_split, digits_data):
    """Small reference sets on digits (4 online on halves of members + non-members, 4 offline)."""
    from mlaudit.models import MLP, TrainConfig
    from mlaudit.runner.references import record, train_references
    from mlaudit.targets import TorchTarget

    def make(seed):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return MLP(in_features=64, num_classes=10, hidden=(128,))

    m, n, pop = digits_split["members"], digits_split["nonmembers"], digits_split["control_a"]
    cfg = TrainConfig(epochs=20, batch_size=32, lr=3e-3)
    universe = np.sort(np.concatenate([m.ids, n.ids]))
    on, keep = train_references(
        make, digits_data.x, digits_data.y, universe, n_train=200, n_models=4, config=cfg, seed=1, cache=None, key="on"
    )
    off, _ = train_references(
        make, digits_data.x, digits_data.y, pop.ids, n_train=200, n_models=4, config=cfg, seed=2, cache=None, key="off"
    )
    base = TorchTarget(make(9), num_classes=10)
    z = digits_split["control_b"]

    def rec(models, k):
        return record(models, k, universe, digits_data.x[universe], digits_data.y[universe], z.x, z.y, base)

    return base, rec(on, keep), rec(off, np.zeros_like(keep))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_attack_conformance(name, overfit_target, digits_split, reference_inputs):
    if name == "attribute-inference":
        pytest.skip("needs tabular records with a sensitive column: tests/statistical/test_attribute_inference.py")
    # the boundary distance's HopSkipJump costs a few seconds per 100 queries per 400 examples: a small budget here
    attack = get_attack(name, **({"max_queries": 40} if name == "boundary-distance" else {}))
    assert isinstance(attack.access, Access) and attack.category
    base, on, off = reference_inputs
    inputs = AttackInputs(digits_split["members"], digits_split["nonmembers"], digits_split["control_a"], base, on, off)
    tm = ThreatModel(access=attack.access, knowledge=attack.knowledge)
    weights_before = {k: v.copy() for k, v in overfit_target.weights().items()}
    a = attack.run(overfit_target.restricted(tm), inputs, seed=0)
    b = attack.run(overfit_target.restricted(tm), inputs, seed=0)
    assert isinstance(a, Finding)
    assert {k: m.value for k, m in a.metrics.items()} == {k: m.value for k, m in b.metrics.items()}
    for k, v in overfit_target.weights().items():  # an audit never changes the target
        assert (v == weights_before[k]).all()
    report = Report(
        "0",
        "2026-01-01T00:00:00+00:00",
        {"name": "t", "adapter": "x", "num_classes": 10, "kind": "torch"},
        tm.to_dict(),
        {"seed": 0},
        (a,),
        {},
    )
    validate(json.loads(to_json(report)))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_attack_refused_below_its_access(name):
    attack = get_attack(name)
    if attack.access == Access.LABELS:
        pytest.skip("label-only attacks run under every threat model")
    with pytest.raises(ThreatModelError, match=f"attack '{attack.name}' needs"):
        check_permitted(attack, ThreatModel(access=Access.LABELS))


def test_unknown_attack_lists_registered():
    with pytest.raises(
        Exception,
        match="unknown attack 'lira2'; registered attacks: attribute-inference, base-reference, boundary-distance, "
        "gradient-norm, label-only, lira,",
    ):
        get_attack("lira2")
