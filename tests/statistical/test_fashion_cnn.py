"""Membership inference on a Fashion-MNIST CNN (the audit's full-profile architecture, narrower),
both ways: trained to fit 300 private images, its members leak to LOSS and to offline RMIA and LiRA
with 2 reference models trained in the process pool (AUC above 0.5 + 4 sigma = 0.567 for 300 + 300),
and every attack reports chance on two disjoint non-member sets (within 0.5 +- 4 sigma)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit import Access, Knowledge, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.data import fashion_mnist, fashion_mnist_available, split
from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.models import CNN, TrainConfig, train
from mlaudit.registry import get_attack
from mlaudit.scenarios.references import record, train_references
from mlaudit.targets import TorchTarget

pytestmark = pytest.mark.skipif(not fashion_mnist_available(), reason="apt-get install dataset-fashion-mnist")
CFG = TrainConfig(epochs=30, batch_size=32)


def _cnn(seed: int) -> CNN:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CNN(in_channels=1, num_classes=10, width=8)


@pytest.fixture(scope="module")
def world():
    d = fashion_mnist("train")
    s = split(d, {"members": 300, "nonmembers": 300, "ca": 300, "cb": 300, "pop": 1300}, seed=0)
    p = {k: s.part(d, k) for k in s.indices}
    m = p["members"]
    target = TorchTarget(train(_cnn(0), m.x, m.y, CFG, generator=torch.Generator().manual_seed(0)), num_classes=10)
    universe = np.sort(np.concatenate([p[k].ids for k in ("members", "nonmembers", "ca", "cb")]))
    pop = p["pop"].ids
    offline, _ = train_references(
        _cnn, d.x, d.y, pop[300:], n_train=300, n_models=2, config=CFG, seed=1, cache=None, key="off", workers=2
    )
    off = record(
        offline,
        np.zeros((2, len(universe)), bool),
        universe,
        d.x[universe],
        d.y[universe],
        d.x[pop[:300]],
        d.y[pop[:300]],
        target,
    )
    tm = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset(Knowledge))
    main = AttackInputs(m, p["nonmembers"], None, None, None, off)
    control = AttackInputs(p["ca"], p["cb"], None, None, None, off)
    return target.restricted(tm), main, control


@pytest.mark.parametrize("name", ["loss", "lira-offline", "rmia-offline"])
def test_cnn_members_leak_and_controls_stay_at_chance(world, name):
    target, main, control = world
    sigma = mann_whitney_null_sigma(300, 300)
    f = get_attack(name).run(target, main, seed=0)
    assert f.metrics["auc"].value > 0.5 + 4 * sigma, f.metrics["auc"]
    c = get_attack(name).run(target, control, seed=0)
    assert abs(c.metrics["auc"].value - 0.5) < 4 * sigma, c.metrics["auc"]
