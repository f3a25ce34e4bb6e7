"""FGSM, the fast gradient sign method (Goodfellow et al. 2015, arXiv 1412.6572)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion.base import Bounds, Model, check, normalise


def fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
) -> torch.Tensor:
    """One step of size eps along the loss gradient's sign (Linf) or direction (L2). `y` is the true
    label, or the target label when `targeted`."""
    check(x, y, eps, norm, bounds)
    if eps == 0:
        return x.clone()
    xa = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xa), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, xa)
    step = normalise(g, norm) * eps
    return (x - step if targeted else x + step).clamp(*bounds).detach()
