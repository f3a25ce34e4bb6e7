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


class _Conv(nn.Module):
    """Both of book-keeping's convolution branches: 1 input channel (im2col: 1 x 3 x 3 < 16 columns) and 4
    (grouped backward: 36 columns), a strided one, a frozen first layer's bias, and a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, 3)
        self.c1.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))


def _conv() -> nn.Module:
    torch.manual_seed(0)
    return _Conv()


def test_book_keeping_matches_a_hand_written_loop_on_a_cnn():
    """Convolutions (both branches), a frozen bias and a Linear head: book-keeping's clipped sum equals
    clipping each example's own gradient (autograd, one example at a time) to 1e-5."""
    from mlaudit.defenses.dp.bookkeeping import clipped_sum

    g = torch.Generator().manual_seed(3)
    x, y, c = torch.randn(12, 1, 8, 8, generator=g) * 2, torch.randint(0, 3, (12,), generator=g), 0.3
    model = _conv()
    params = [p for p in model.parameters() if p.requires_grad]
    expected = [torch.zeros_like(p) for p in params]
    for i in range(len(x)):
        grads = torch.autograd.grad(nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), params)
        norm = float(torch.sqrt(sum((q**2).sum() for q in grads)))
        for e, q in zip(expected, grads, strict=True):
            e += q * min(1.0, c / (norm + 1e-6))
    got = clipped_sum(model, x, y, max_grad_norm=c, criterion=nn.CrossEntropyLoss(reduction="sum"))
    assert model.c1.bias not in got and len(got) == len(params)
    for p, e in zip(params, expected, strict=True):
        torch.testing.assert_close(got[p], e, atol=1e-5, rtol=1e-4)


def test_book_keeping_refuses_what_it_does_not_cover():
    """A BatchNorm (trained, or frozen but in training mode: its batch statistics mix the examples), a layer
    called twice, a Linear on a sequence: NotImplementedError; the
    chooser then leaves book-keeping out and Opacus's paths serve the model (a LayerNorm's here)."""
    from mlaudit.defenses.dp.bookkeeping import clipped_sum

    crit = nn.CrossEntropyLoss(reduction="sum")
    shared = nn.Linear(4, 4)
    twice = nn.Sequential(shared, nn.ReLU(), shared)
    seq = nn.Sequential(nn.Linear(4, 3), nn.Flatten(), nn.Linear(15, 4))
    frozen_bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4).requires_grad_(False))  # still mixes the batch
    cases = [(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), torch.randn(8, 4)), (twice, torch.randn(8, 4)),
             (seq, torch.randn(8, 5, 4)), (frozen_bn, torch.randn(8, 4))]  # fmt: skip
    for model, x in cases:
        with pytest.raises(NotImplementedError):
            clipped_sum(model, x, torch.zeros(8, dtype=torch.long), max_grad_norm=1.0, criterion=crit)
    chosen, timings = choose_mode(lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), torch.randn(8, 4),
                                  torch.zeros(8, dtype=torch.long), steps=1)  # fmt: skip
    assert "bk" not in timings and chosen in ("hooks", "ghost", "functorch")
