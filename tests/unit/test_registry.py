"""Conformance over the registry: every entry declares valid requirements and is listed by `mlaudit list`;
the planner skips an entry whose requirements fail, with a reason and a fix; every membership attack is
reproducible, leaves the target unchanged, and yields a Finding that fits the report schema. (The suites'
runs are tested in their families: tests/security, tests/integration/test_privacy_sections.py.)"""

import json

import numpy as np
import pytest
import torch

from mlaudit import Access, Finding, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.errors import ConfigError
from mlaudit.findings import Report
from mlaudit.registry import REGISTRY, describe, expand, get_attack
from mlaudit.report.json import to_json, validate
from mlaudit.requirements import Offer, Requires, unmet


@pytest.fixture(scope="module")
def reference_inputs(digits_split, digits_data):
    """Small reference sets on digits (4 online on halves of members + non-members, 4 offline)."""
    from mlaudit.models import MLP, TrainConfig
    from mlaudit.scenarios.references import record, train_references
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


# the classifier membership attacks; those of language models: tests/lm/test_lm_membership.py; the
# demonstrations (their own model and data): tests/integration/test_conformance.py
MEMBERSHIP = sorted(
    n
    for n in REGISTRY
    if get_attack(n).category == "membership"
    and get_attack(n).requires.modalities != {"language"}
    and not n.endswith("-demo")
)


@pytest.mark.parametrize("name", MEMBERSHIP)
def test_attack_conformance(name, overfit_target, digits_split, reference_inputs):
    if name == "attribute-inference":
        pytest.skip("needs tabular records with a sensitive column: tests/statistical/test_attribute_inference.py")
    # the boundary distance's HopSkipJump costs a few seconds per 100 queries per 400 examples: a small budget here
    attack = get_attack(name, **({"max_queries": 40} if name == "boundary-distance" else {}))
    assert isinstance(attack.requires.access, Access) and attack.category
    base, on, off = reference_inputs
    inputs = AttackInputs(digits_split["members"], digits_split["nonmembers"], digits_split["control_a"], base, on, off)
    tm = ThreatModel(access=attack.requires.access, knowledge=attack.requires.knowledge)
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
def test_planner_skips_an_entry_whose_requirements_fail_with_reason_and_fix(name):
    """Each entry runs where its requirements hold and is refused, with why, one step below any of them."""
    req: Requires = get_attack(name).requires
    modality = sorted(req.modalities)[0] if req.modalities else "image"
    tm = ThreatModel(access=req.access, query_budget=req.min_queries or None, knowledge=req.knowledge)
    full = Offer(tm, Access.WEIGHTS, modality, frozenset(req.needs), req.profile)
    assert unmet(name, req, full) is None
    short: list[Offer] = []
    if req.access > Access.LABELS:
        short.append(Offer(tm, Access(req.access - 1), modality, full.has, full.profile))  # the target gives less
        if not req.auditor:
            low = ThreatModel(access=Access(req.access - 1), knowledge=req.knowledge)
            short.append(Offer(low, Access.WEIGHTS, modality, full.has, full.profile))
    if req.min_queries:  # a budget one query short of its need
        one_short = ThreatModel(access=req.access, query_budget=req.min_queries - 1, knowledge=req.knowledge)
        short.append(Offer(one_short, Access.WEIGHTS, modality, full.has, full.profile))
    for need in req.needs:
        short.append(Offer(tm, Access.WEIGHTS, modality, full.has - {need}, full.profile))
    if req.profile == "full":
        short.append(Offer(tm, Access.WEIGHTS, modality, full.has, "quick"))
    for offer in short:
        why = unmet(name, req, offer)
        assert why is not None and name in why.reason and why.fix, (offer, why)


def test_every_listed_name_builds_and_families_expand():
    rows = describe()
    listed = [row["name"] for row in rows]
    assert listed == list(REGISTRY) and all(get_attack(n).name for n in listed)
    # a part of a suite, shown under "runs:", gives the suite that runs it
    shown: dict[str, set[str]] = {}
    for row in rows:
        for part in row["runs"]:
            shown.setdefault(part, set()).add(row["name"])
    assert {"pgd", "square", "hopskipjump", "neural-cleanse", "badnets", "gmi"} <= set(shown)
    for part, suites in shown.items():
        assert get_attack(part).name in suites, part
    assert expand(["pgd", "loss"]) == ["loss", "evasion"]
    assert expand(["all"]) == list(REGISTRY)
    assert set(expand(["evasion"])) == {"evasion"} and "lira-offline" in expand(["membership"])
    with pytest.raises(ConfigError, match="unknown attack or family 'pgd2'"):
        expand(["pgd2"])


def test_unknown_attack_lists_registered():
    with pytest.raises(
        ConfigError, match="unknown attack 'lira2'; registered attacks: active-learning, attribute-demo, attribute"
    ):
        get_attack("lira2")
