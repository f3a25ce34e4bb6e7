"""LiRA, RMIA and the base-model reference, both ways: they find the leak of a memorising model and
report chance on two disjoint non-member sets (AUC within 0.5 +- 4 sigma, sigma the Mann-Whitney
null std sqrt((n1 + n2 + 1) / (12 n1 n2)) = 0.0289 for 200 + 200)."""

import copy

import numpy as np
import pytest
import torch

from mlaudit import Access, Knowledge, ThreatModel
from mlaudit.attacks import AttackInputs, get_attack
from mlaudit.data import Dataset
from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.runner.references import record, train_references
from mlaudit.targets import TorchTarget

CFG = TrainConfig(epochs=60, batch_size=32, lr=3e-3)


@pytest.fixture(scope="module")
def world():
    """Gaussian inputs, random labels: 200 members, 200 non-members, 2 x 200 control non-members,
    1000 population examples. The target memorises the members, fine-tuned from a public base."""
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=(n, 32)).astype(np.float32)
    y = rng.integers(0, 10, n)
    ds = Dataset(x, y, tuple(map(str, range(10))), "random", "tabular")
    idx = {
        "members": np.arange(200),
        "nonmembers": np.arange(200, 400),
        "ca": np.arange(400, 600),
        "cb": np.arange(600, 800),
        "pop": np.arange(800, 2000),
    }
    parts = {k: ds.subset(v, k) for k, v in idx.items()}

    def make(seed):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return MLP(in_features=32, num_classes=10, hidden=(128, 64))

    base = train(
        make(1),
        x[idx["pop"][:600]],
        y[idx["pop"][:600]],
        TrainConfig(epochs=5),
        generator=torch.Generator().manual_seed(1),
    )
    target = train(
        copy.deepcopy(base), x[idx["members"]], y[idx["members"]], CFG, generator=torch.Generator().manual_seed(2)
    )
    t = TorchTarget(target, num_classes=10)
    universe = np.arange(800)
    halves = np.arange(400)

    def from_base(seed):
        m = make(seed)
        m.load_state_dict(base.state_dict())
        return m

    online, keep_h = train_references(
        from_base, x, y, halves, n_train=200, n_models=8, config=CFG, seed=3, cache=None, key="on"
    )
    keep = np.zeros((8, 800), bool)
    keep[:, :400] = keep_h
    offline, _ = train_references(
        from_base, x, y, idx["pop"][600:], n_train=200, n_models=8, config=CFG, seed=4, cache=None, key="off"
    )
    z = idx["pop"][:300]
    args = (universe, x[universe], y[universe], x[z], y[z], t)
    refs_on, refs_off = record(online, keep, *args), record(offline, np.zeros((8, 800), bool), *args)
    base_t = TorchTarget(base, num_classes=10)
    tm = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset(Knowledge))
    main = AttackInputs(parts["members"], parts["nonmembers"], None, base_t.restricted(tm), refs_on, refs_off)
    control = AttackInputs(parts["ca"], parts["cb"], None, base_t.restricted(tm), refs_on, refs_off)
    return t.restricted(tm), main, control


ATTACKS = [
    "base-reference",
    "lira",
    "lira-fixed-variance",
    "lira-offline",
    "lira-offline-fixed-variance",
    "rmia",
    "rmia-offline",
    "shadow",
]


@pytest.mark.parametrize("name", ATTACKS)
def test_finds_the_leak(world, name):
    target, main, _ = world
    f = get_attack(name).run(target, main, seed=0)
    assert f.metrics["auc"].value > 0.8, (name, f.metrics["auc"])


@pytest.mark.parametrize("name", ATTACKS)
def test_chance_on_two_non_member_sets(world, name):
    target, _, control = world
    f = get_attack(name).run(target, control, seed=0)
    assert abs(f.metrics["auc"].value - 0.5) < 4 * mann_whitney_null_sigma(200, 200), (name, f.metrics["auc"])
