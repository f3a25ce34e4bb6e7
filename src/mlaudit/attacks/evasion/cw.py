"""Carlini & Wagner L2 attack (Carlini & Wagner 2017, arXiv 1608.04644).

Minimise ||delta||_2^2 + c * max(z_y - max_{j!=y} z_j, -kappa) in tanh space (so the box holds
without clipping), with Adam, and a binary search over c per example. Returns the smallest
successful perturbation found, or x itself where none succeeded.
"""

from __future__ import annotations

import torch

from mlaudit.attacks.evasion.base import Bounds, Model, check


def cw_l2(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    search_steps: int = 5,
    lr: float = 0.01,
    bounds: Bounds = (0.0, 1.0),
) -> torch.Tensor:
    check(x, y, 0.0, "l2", bounds)
    lo, hi = bounds
    x01 = ((x - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
    w0 = torch.atanh(2 * x01 - 1)
    const = torch.full((len(x),), float(c))
    lower, upper = torch.zeros(len(x)), torch.full((len(x),), 1e10)
    best, best_l2 = x.clone(), torch.full((len(x),), torch.inf)
    onehot = torch.nn.functional.one_hot(y, model(x[:1]).shape[1]).bool()
    for _ in range(search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        success = torch.zeros(len(x), dtype=torch.bool)
        for _ in range(steps):
            xa = lo + (hi - lo) * (torch.tanh(w) + 1) / 2
            z = model(xa)
            real = z[onehot]
            other = z.masked_fill(onehot, -torch.inf).amax(1)
            f = torch.clamp(real - other, min=-kappa)
            l2 = (xa - x).flatten(1).pow(2).sum(1)
            opt.zero_grad()
            (l2 + const * f).sum().backward()
            opt.step()
            with torch.no_grad():
                ok = z.argmax(1) != y
                if kappa > 0:
                    ok = ok & (other - real >= kappa)
                improve = ok & (l2 < best_l2)
                best[improve], best_l2[improve] = xa.detach()[improve], l2.detach()[improve]
                success |= ok
        upper = torch.where(success, torch.minimum(upper, const), upper)
        lower = torch.where(success, lower, torch.maximum(lower, const))
        const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best.detach()
