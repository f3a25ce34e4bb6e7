"""DP-SGD's per-sample gradient paths (defenses.dp.paths): every path Opacus offers gives, at zero noise,
the clipped and averaged gradient a hand-written loop computes (each example's gradient alone, scaled to
norm <= C, summed, divided by the batch size), and the chooser picks one of the paths that agree."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlaudit.defenses.dp.paths import MODES, choose_mode, time_step

pytest.importorskip("opacus")


def _make() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _hand_written(x: torch.Tensor, y: torch.Tensor, c: float) -> dict[str, torch.Tensor]:
    model = _make()
    total = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
        norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
        scale = min(1.0, c / (float(norm) + 1e-6))
        for k in total:
            total[k] += grads[k] * scale
    return {k: v / len(x) for k, v in total.items()}


@pytest.mark.parametrize("mode", MODES)
def test_each_path_matches_a_hand_written_clipped_gradient(mode):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 6, generator=g) * 3, torch.randint(0, 3, (16,), generator=g)
    c = 0.5  # small enough that most examples are clipped (the test fails if clipping were skipped)
    expected = _hand_written(x, y, c)
    got = time_step(_make, x, y, mode, max_grad_norm=c, steps=1).update  # lr 1: the update is -gradient
    for k, v in expected.items():
        torch.testing.assert_close(-got[k], v, atol=1e-5, rtol=1e-4)


def test_the_chooser_returns_an_agreeing_path_with_every_timing():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    chosen, timings = choose_mode(_make, x, y, steps=1)
    assert chosen in MODES and set(timings) == set(MODES)
    assert all(t.seconds > 0 for t in timings.values())
