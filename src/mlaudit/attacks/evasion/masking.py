"""Gradient-masking checks, after AutoAttack's flags (Croce & Hein 2020; Athalye et al. 2018,
arXiv 1802.00420): signs that a robustness number comes from broken gradients, not robustness."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion.base import Model


@dataclass(frozen=True)
class MaskingFlag:
    check: str
    message: str


def zero_gradients(model: Model, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of examples whose input gradient of the loss is exactly zero."""
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
    return float((g.flatten(1).abs().amax(1) == 0).float().mean())


@torch.no_grad()
def randomised(model: Model, x: torch.Tensor) -> float:
    """Largest change of the outputs between two evaluations of the same inputs."""
    return float((model(x) - model(x)).abs().max())


@torch.no_grad()
def softmax_outputs(model: Model, x: torch.Tensor) -> bool:
    """The model returns probabilities, not logits: cross-entropy on them saturates its gradients."""
    z = model(x)
    return bool((z >= 0).all() and torch.allclose(z.sum(1), torch.ones(len(z)), atol=1e-4))


def check_masking(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    broken_by: tuple[str, ...] = (),
    robust_by_eps: dict[float, float] | None = None,
) -> list[MaskingFlag]:
    """Run every check; `broken_by` comes from standard_evaluation, `robust_by_eps` from a sweep."""
    flags = []
    zg = zero_gradients(model, x, y)
    if zg > 0.05:
        flags.append(MaskingFlag("zero-gradients", f"{zg:.0%} of the inputs have an all-zero loss gradient"))
    r = randomised(model, x)
    if r > 1e-5:
        flags.append(MaskingFlag("randomised-outputs", f"outputs change by up to {r:.3g} on the same input"))
    if softmax_outputs(model, x):
        flags.append(MaskingFlag("softmax-outputs", "the model returns probabilities; attack its logits"))
    n_sq = broken_by.count("square")
    if n_sq:
        flags.append(
            MaskingFlag(
                "black-box-beats-white-box", f"the score-only Square broke {n_sq} inputs the gradient attacks missed"
            )
        )
    if robust_by_eps:
        eps = sorted(robust_by_eps)
        acc = [robust_by_eps[e] for e in eps]
        if any(b > a + 1e-9 for a, b in zip(acc, acc[1:], strict=False)):
            flags.append(
                MaskingFlag("non-monotone", f"robust accuracy rises with eps: {dict(zip(eps, acc, strict=True))}")
            )
    return flags


def unbounded_success(model: Model, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator) -> float:
    """Success of PGD at eps = 1 (the whole input box): anything short of ~100% means masking."""
    from mlaudit.attacks.evasion.pgd import pgd

    xa = pgd(model, x, y, eps=1.0, steps=20, generator=generator)
    with torch.no_grad():
        return float((model(xa).argmax(1) != y).float().mean())


__all__ = ["MaskingFlag", "check_masking", "randomised", "softmax_outputs", "unbounded_success", "zero_gradients"]
