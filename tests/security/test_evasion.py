"""Evasion attacks: invariants (eps 0, the eps-ball and the box, monotone robust accuracy), parity
with a hand-written PGD loop, strength ordering, query budgets, masking checks and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mlaudit import InputError
from mlaudit.attacks.evasion import apgd, cw_l2, fgsm, hopskipjump, pgd, square, standard_evaluation
from mlaudit.attacks.evasion.base import dlr_loss
from mlaudit.attacks.evasion.masking import check_masking, unbounded_success
from mlaudit.errors import QueryBudgetExceeded
from mlaudit.targets import TorchTarget
from mlaudit.threat import Access, ThreatModel


@pytest.fixture(scope="module")
def test_set(digits01):
    x, y = digits01
    return torch.as_tensor(x[1200:1500]), torch.as_tensor(y[1200:1500], dtype=torch.long)


def _acc(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


ATTACKS = {
    "fgsm": lambda m, x, y, e, n, g: fgsm(m, x, y, eps=e, norm=n),
    "pgd": lambda m, x, y, e, n, g: pgd(m, x, y, eps=e, norm=n, generator=g),
    "apgd": lambda m, x, y, e, n, g: apgd(m, x, y, eps=e, norm=n, steps=20, generator=g),
    "apgd-dlr": lambda m, x, y, e, n, g: apgd(m, x, y, eps=e, norm=n, steps=20, loss="dlr", generator=g),
}


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_perturbation_within_eps_and_box_and_eps0_is_identity(digits_mlp, test_set, name, norm, eps):
    x, y = test_set
    g = torch.Generator().manual_seed(0)
    xa = ATTACKS[name](digits_mlp, x, y, eps, norm, g)
    d = (xa - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(xa.min()) >= 0 and float(xa.max()) <= 1
    assert torch.equal(ATTACKS[name](digits_mlp, x, y, 0.0, norm, g), x)
    assert _acc(digits_mlp, xa, y) <= _acc(digits_mlp, x, y)


def test_robust_accuracy_monotone_in_eps_and_reaches_zero(digits_mlp, test_set):
    x, y = test_set
    accs = [
        _acc(digits_mlp, pgd(digits_mlp, x, y, eps=e, generator=torch.Generator().manual_seed(0)), y)
        for e in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
    ]
    assert accs[0] > 0.9
    assert all(b <= a for a, b in zip(accs, accs[1:], strict=False)), accs
    assert accs[-1] < 0.02


def test_pgd_equals_hand_written_loop(digits_mlp, test_set):
    """Parity: the textbook loop (Madry et al. 2018) written out; same ops, so equal to 1e-6."""
    x, y = test_set
    eps, alpha, k = 0.1, 0.01, 10
    ref = x.clone()
    for _ in range(k):
        ref.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(digits_mlp(ref), y, reduction="sum"), ref)
        ref = ref.detach() + alpha * grad.sign()
        ref = torch.clamp(x + torch.clamp(ref - x, -eps, eps), 0, 1)
    ours = pgd(digits_mlp, x, y, eps=eps, steps=k, step_size=alpha, random_init=False)
    assert float((ours - ref).abs().max()) <= 1e-6


def test_same_seed_same_result(digits_mlp, test_set):
    x, y = test_set
    a = apgd(digits_mlp, x, y, eps=0.05, steps=10, generator=torch.Generator().manual_seed(3))
    b = apgd(digits_mlp, x, y, eps=0.05, steps=10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_apgd_at_least_as_strong_as_fgsm_and_standard_evaluation_is_worst_case(digits_mlp, test_set):
    x, y = test_set
    g = torch.Generator().manual_seed(0)
    eps = 0.05
    r_fgsm = _acc(digits_mlp, fgsm(digits_mlp, x, y, eps=eps), y)
    r_apgd = _acc(digits_mlp, apgd(digits_mlp, x, y, eps=eps, steps=50, generator=g), y)
    assert r_apgd <= r_fgsm
    g, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
    ev = standard_evaluation(
        digits_mlp, x, y, eps=eps, steps=50, n_target_classes=3, square_queries=300, generator=g, rng=rng
    )
    assert ev.robust_accuracy <= r_apgd + 0.02  # APGD-CE from a different start, then more attacks on survivors
    assert abs(ev.clean_accuracy - _acc(digits_mlp, x, y)) < 1e-6  # float32 mean vs float64
    counts = ev.broken_counts()
    assert sum(counts.values()) + int(ev.robust.sum()) == len(x)
    broken = np.array([b not in ("", "clean") for b in ev.broken_by])
    assert (
        (_acc(digits_mlp, ev.x_adv[torch.as_tensor(broken)], y[torch.as_tensor(broken)]) == 0) if broken.any() else True
    )


def test_dlr_loss_invariant_to_logit_scale_and_shift():
    z = torch.randn(16, 10, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    t = (y + 1) % 10
    for target in (None, t):
        assert torch.allclose(dlr_loss(z, y, target), dlr_loss(3 * z + 7, y, target), atol=1e-5)


def test_square_within_eps_and_budget_enforced_through_target(digits_mlp, test_set):
    x, y = test_set
    target = TorchTarget(digits_mlp, num_classes=10)
    view = target.restricted(ThreatModel(access=Access.PROBABILITIES, query_budget=100_000))
    xs, used = square(
        view.probabilities, x[:100].numpy(), y[:100].numpy(), eps=0.1, n_queries=300, rng=np.random.default_rng(0)
    )
    assert np.abs(xs - x[:100].numpy()).max() <= 0.1 + 1e-6 and xs.min() >= 0 and xs.max() <= 1
    assert used.max() <= 300 and view.queries == used.sum()
    assert _acc(digits_mlp, torch.as_tensor(xs, dtype=torch.float32), y[:100]) < _acc(digits_mlp, x[:100], y[:100])
    tight = target.restricted(ThreatModel(access=Access.PROBABILITIES, query_budget=150))
    with pytest.raises(QueryBudgetExceeded):
        square(
            tight.probabilities, x[:100].numpy(), y[:100].numpy(), eps=0.1, n_queries=300, rng=np.random.default_rng(0)
        )
    with pytest.raises(Exception, match="labels"):
        target.restricted(ThreatModel(access=Access.LABELS)).probabilities(x[:1].numpy())


def test_hopskipjump_label_only_finds_small_adversarials_within_budget(digits_mlp, test_set):
    x, y = test_set
    ok = (digits_mlp(x).argmax(1) == y).numpy()
    xs, ys = x.numpy()[ok][:8], y.numpy()[ok][:8]
    target = TorchTarget(digits_mlp, num_classes=10).restricted(ThreatModel(access=Access.LABELS))
    xa, used = hopskipjump(target.labels, xs, ys, max_queries=400, rng=np.random.default_rng(0))
    assert (target.labels(xa) != ys).all()
    assert used.max() <= 400 + 30  # the last binary search may finish past the budget (at most log2(1/theta) steps)
    l2 = np.linalg.norm((xa - xs).reshape(8, -1), axis=1)
    random_start = np.sqrt(64 * (1 / 3))  # E||u - x|| for uniform noise u is about sqrt(d/3) or more
    assert np.median(l2) < 0.5 * random_start


def test_cw_l2_succeeds_with_small_perturbations(digits_mlp, test_set):
    x, y = test_set
    xa = cw_l2(digits_mlp, x[:40], y[:40], steps=100, search_steps=4)
    fooled = (digits_mlp(xa).argmax(1) != y[:40]).float().mean()
    assert float(fooled) >= 0.9
    assert float(xa.min()) >= 0 and float(xa.max()) <= 1
    l2 = (xa - x[:40]).flatten(1).norm(dim=1)
    assert float(l2.median()) < 2.0  # a digit is about 3.6 in L2 from its mean: these are small changes


class _Softmax(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return torch.softmax(self.m(x), 1)


class _Noisy(_Softmax):
    def forward(self, x):
        return self.m(x) + 0.1 * torch.randn(len(x), 10)


class _Quantised(_Softmax):
    def forward(self, x):
        return self.m(torch.round(x * 4) / 4 + 0 * x.detach())  # rounding: zero gradient almost everywhere


def test_masking_checks_flag_broken_gradients_and_pass_a_clean_model(digits_mlp, test_set):
    x, y = test_set
    g = torch.Generator().manual_seed(0)
    assert check_masking(digits_mlp, x, y) == []
    assert unbounded_success(digits_mlp, x[:100], y[:100], generator=g) > 0.98
    assert [f.check for f in check_masking(_Softmax(digits_mlp), x, y)] == ["softmax-outputs"]
    assert "randomised-outputs" in [f.check for f in check_masking(_Noisy(digits_mlp), x, y)]
    assert "zero-gradients" in [f.check for f in check_masking(_Quantised(digits_mlp), x, y)]
    flags = check_masking(digits_mlp, x, y, broken_by=("square", ""), robust_by_eps={0.0: 0.9, 0.1: 0.5, 0.2: 0.6})
    assert {f.check for f in flags} == {"black-box-beats-white-box", "non-monotone"}


def test_bad_input_is_refused_with_the_value(digits_mlp, test_set):
    x, y = test_set
    with pytest.raises(InputError, match="eps must be"):
        pgd(digits_mlp, x, y, eps=-0.1, generator=torch.Generator())
    with pytest.raises(InputError, match="unknown norm 'l1'"):
        fgsm(digits_mlp, x, y, eps=0.1, norm="l1")
    with pytest.raises(InputError, match="outside bounds"):
        pgd(digits_mlp, x * 255, y, eps=8.0, generator=torch.Generator())
    with pytest.raises(InputError, match="300 inputs but 299 labels"):
        apgd(digits_mlp, x, y[:-1], eps=0.1)
    with pytest.raises(ValueError, match="generator"):
        pgd(digits_mlp, x, y, eps=0.1)
