"""The recipe's label smoothing, image augmentations and trainable modules (models.train), each against
a hand-written reference: a loop with the label-smoothed loss written out, torch's flip and a brute-force
search for the crop window, and parameters compared before and after training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from mlaudit.config import AuditConfig, RecipeConfig, from_dict
from mlaudit.errors import ConfigError, InputError
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.models.train import augment_batch, freeze_except
from mlaudit.scenarios.references import train_references


def _mlp(seed: int, shape=(1, 6, 6)) -> MLP:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLP(in_features=int(np.prod(shape)), num_classes=3, hidden=(8,))


def _data(n=64, shape=(1, 6, 6)):
    rng = np.random.default_rng(0)
    return rng.random((n, *shape)).astype(np.float32), rng.integers(0, 3, n)


def test_label_smoothing_matches_the_loss_written_out():
    """(1 - s) * NLL of the label + s * mean over the C classes of -log p, minimised by the same SGD
    steps on the same batches: the weights agree to float rounding."""
    x, y = _data()
    s = 0.3
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, optimizer="sgd", momentum=0.0, label_smoothing=s)
    ours = train(_mlp(0), x, y, cfg, generator=torch.Generator().manual_seed(1))
    ref = _mlp(0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    g, xt, yt = torch.Generator().manual_seed(1), torch.as_tensor(x), torch.as_tensor(y)
    ref.train()
    for _ in range(2):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 16):
            idx = perm[i : i + 16]
            logp = torch.log_softmax(ref(xt[idx]), 1)
            loss = ((1 - s) * -logp[torch.arange(len(idx)), yt[idx]] + s * -logp.mean(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    plain = train(_mlp(0), x, y, TrainConfig(epochs=2, batch_size=16, lr=0.1, optimizer="sgd", momentum=0.0),
                  generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert not torch.allclose(plain.head.weight, ours.head.weight)  # the smoothing changed the result


def test_flip_mirrors_the_images_the_generator_picks():
    x = torch.arange(4 * 1 * 2 * 3, dtype=torch.float32).reshape(4, 1, 2, 3)
    out = augment_batch(x, ("flip",), torch.Generator().manual_seed(5))
    mirror = torch.rand(4, generator=torch.Generator().manual_seed(5)) < 0.5  # the same draw, by hand
    for i in range(4):
        torch.testing.assert_close(out[i], x[i].flip(-1) if mirror[i] else x[i], rtol=0, atol=0)
    assert 0 < int(mirror.sum()) < 4  # this seed mirrors some, not all


def test_crop_is_a_window_of_the_zero_padded_image():
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) + 1.0  # no zeros inside
    out = augment_batch(x, ("crop",), torch.Generator().manual_seed(3))
    assert out.shape == x.shape
    padded = nn.functional.pad(x, (4, 4, 4, 4))
    offsets = set()
    for i in range(16):
        found = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(padded[i, :, dy : dy + 8, dx : dx + 8], out[i])
        ]
        assert len(found) == 1, i  # exactly one window (the values are distinct)
        offsets.add(found[0])
    assert len(offsets) > 8  # offsets drawn per image, not one shift for the batch
    with pytest.raises(InputError, match="for images"):
        augment_batch(torch.zeros(4, 10), ("flip",), torch.Generator())


def test_only_the_trainable_modules_change():
    x, y = _data()
    m = freeze_except(_mlp(0), ("head",))
    before = {k: v.detach().clone() for k, v in m.state_dict().items()}
    train(m, x, y, TrainConfig(epochs=2, batch_size=16), generator=torch.Generator().manual_seed(0))
    changed = {k for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"head.weight", "head.bias"}
    with pytest.raises(InputError, match="'classifier', not a module"):
        freeze_except(_mlp(0), ("classifier",))


def test_augmented_references_train_model_by_model_as_train_would():
    """train_references with an augmenting recipe does not stack the MLPs (the stacked run cannot
    draw each model's augmentations): each reference equals train() on its subset with its seed."""
    x, y = _data(80)
    cfg = TrainConfig(epochs=2, batch_size=16, augment=("flip", "crop"))
    pool = np.arange(80)
    models, keep = train_references(
        _mlp, x, y, pool, n_train=40, n_models=2, halves=True, config=cfg, seed=7, cache=None, key="t", workers=1
    )
    for k, m in enumerate(models):
        sub = pool[keep[k]]
        ref = train(
            _mlp(7 * 1000 + k), x[sub], y[sub], cfg, generator=torch.Generator().manual_seed(7 * 1000 + 500 + k)
        )
        for a, b in zip(m.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    plain = dataclasses.replace(cfg, augment=())
    unaugmented = train(
        _mlp(7000), x[pool[keep[0]]], y[pool[keep[0]]], plain, generator=torch.Generator().manual_seed(7500)
    )
    assert not torch.allclose(unaugmented.head.weight, models[0].head.weight)  # train() did augment


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"label_smoothing": 1.0}, "label_smoothing must be in"),
        ({"augment": ["rotate"]}, "unknown recipe.augment 'rotate'"),
        ({"trainable": []}, "recipe.trainable is empty"),
    ],
)
def test_bad_recipe_extras_are_config_errors(recipe, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RecipeConfig, recipe, "recipe")


def test_augmenting_a_text_classifier_is_refused(tmp_path):
    raw = {
        "target": {"kind": "huggingface", "path": str(tmp_path), "num_classes": 2},
        "base": {"path": str(tmp_path)},
        "recipe": {"augment": ["flip"]},
        "data": {
            "members": {"source": "jsonl", "path": "m.jsonl"},
            "nonmembers": {"source": "jsonl", "path": "n.jsonl"},
        },
    }
    with pytest.raises(ConfigError, match="for images"):
        from_dict(AuditConfig, raw)
