"""Optimisation-based model inversion (Fredrikson, Jha & Ristenpart 2015, CCS, "Model Inversion
Attacks that Exploit Confidence Information"): gradient descent on the input to maximise the target's
confidence in a class, with image priors: values kept in [0, 1] (a sigmoid parametrisation) and total
variation, which favours smooth images over adversarial noise. The objective is the target's
log-probability of the class (attacks.inversion.objective): exact gradients with white-box access, NES
estimates through the probability API otherwise (as the paper's black-box variant estimates them
numerically)."""

from __future__ import annotations

import torch

from mlaudit.attacks.inversion.objective import Objective, search


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image. (B, C, H, W) -> (B,)"""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def invert(
    objective: Objective,
    classes: list[int],
    shape: tuple[int, ...],
    *,
    steps: int = 300,
    lr: float = 0.1,
    tv: float = 0.3,
    restarts: int = 4,
    generator: torch.Generator,
) -> torch.Tensor:
    """One reconstruction per class (len(classes), *shape): the best of `restarts` random starts by the
    target's log-probability of the class."""
    y = torch.as_tensor(classes).repeat_interleave(restarts)
    w = 0.1 * torch.randn(len(y), *shape, generator=generator)
    return search(
        objective,
        torch.sigmoid,
        w,
        y,
        lambda v: tv * total_variation(torch.sigmoid(v)),
        steps=steps,
        lr=lr,
        restarts=restarts,
    )
