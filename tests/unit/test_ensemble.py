import numpy as np
import pytest
import torch

from mlaudit.data import breast_cancer
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.models.ensemble import stacked_logits, train_ensemble


def _models(k):
    out = []
    for i in range(k):
        with torch.random.fork_rng():
            torch.manual_seed(i)
            out.append(MLP(in_features=30, num_classes=2, hidden=(16, 8)))
    return out


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(epochs=3, batch_size=32),
        TrainConfig(epochs=4, batch_size=32, optimizer="adamw", weight_decay=0.05, schedule="cosine"),
        TrainConfig(epochs=4, batch_size=32, lr=0.05, optimizer="sgd", schedule="step"),
        TrainConfig(epochs=3, batch_size=32, label_smoothing=0.2),
    ],
)
def test_ensemble_equals_the_loop(cfg):
    """Same init, same per-model batches, optimizers and schedules elementwise: the stacked run reproduces
    each model (with every optimizer and learning-rate schedule a recipe can name)."""
    d = breast_cancer()
    rng = np.random.default_rng(0)
    subsets = [rng.permutation(len(d))[:200] for _ in range(4)]
    loop = [
        train(m, d.x[s], d.y[s], cfg, generator=torch.Generator().manual_seed(k))
        for k, (m, s) in enumerate(zip(_models(4), subsets, strict=True))
    ]
    ens = train_ensemble(_models(4), subsets, d.x, d.y, cfg, seeds=[0, 1, 2, 3])
    for a, b in zip(loop, ens, strict=True):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        stacked_logits(ens, d.x[:5])[2], ens[2](torch.as_tensor(d.x[:5])).detach().numpy(), rtol=1e-6
    )


def test_the_ensemble_refuses_what_it_cannot_reproduce():
    """Augmentation draws per model and frozen parameters are not stacked: those recipes train model by
    model (scenarios.references picks that path; tests/unit/test_recipe_extras.py checks it)."""
    d = breast_cancer()
    subsets = [np.arange(100), np.arange(100, 200)]
    with pytest.raises(ValueError, match="model by model"):
        train_ensemble(_models(2), subsets, d.x, d.y, TrainConfig(augment=("flip",)), seeds=[0, 1])
    frozen = _models(2)
    frozen[0].head.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="model by model"):
        train_ensemble(frozen, subsets, d.x, d.y, TrainConfig(), seeds=[0, 1])
