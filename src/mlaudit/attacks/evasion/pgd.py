"""PGD, projected gradient descent (Madry et al. 2018, arXiv 1706.06083), Linf and L2, random start.

The loop is exactly k forward+backward passes plus an elementwise projection: gradients are taken
with respect to the input only (no parameter gradients are formed) and nothing else is evaluated,
so its cost is the floor k*(fwd+bwd) (benchmarks/pgd.py measures it).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion.base import Bounds, Model, check, normalise, project, random_start


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    random_init: bool = True,
    bounds: Bounds = (0.0, 1.0),
    targeted: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Maximise the cross-entropy (minimise it towards `y` when `targeted`) within the eps-ball.

    step_size defaults to 2.5 * eps / steps (Madry et al.). A random start needs `generator`.
    """
    check(x, y, eps, norm, bounds)
    if eps == 0:
        return x.clone()
    alpha = 2.5 * eps / steps if step_size is None else step_size
    if random_init:
        if generator is None:
            raise ValueError("a random start draws from `generator`; pass torch.Generator().manual_seed(seed)")
        xa = random_start(x, eps, norm, bounds, generator)
    else:
        xa = x.clone()
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        xa = project(xa.detach() + sign * alpha * normalise(g, norm), x, eps, norm, bounds)
    return xa.detach()
