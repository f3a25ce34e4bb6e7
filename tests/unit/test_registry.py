"""Conformance over the attack registry: every attack declares its needs, is reproducible, and yields
a Finding that fits the report schema."""

import json

import pytest

from mlaudit import Access, Finding, ThreatModel, ThreatModelError
from mlaudit.attacks import REGISTRY, AttackInputs, check_permitted, get_attack
from mlaudit.findings import Report
from mlaudit.report.json import to_json, validate


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_attack_conformance(name, overfit_target, digits_split):
    attack = get_attack(name)
    assert isinstance(attack.access, Access) and attack.category
    inputs = AttackInputs(digits_split["members"], digits_split["nonmembers"], digits_split["control_a"])
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
    with pytest.raises(ThreatModelError, match=f"attack '{name}' needs"):
        check_permitted(attack, ThreatModel(access=Access.LABELS))


def test_unknown_attack_lists_registered():
    with pytest.raises(Exception, match="unknown attack 'lira2'; registered attacks: loss"):
        get_attack("lira2")
