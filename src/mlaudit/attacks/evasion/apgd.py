"""APGD, auto-PGD (Croce & Hein 2020, arXiv 2003.01690): step-size-free PGD with momentum.

The step size starts at 2*eps and is halved at checkpoints w_j (p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)) when fewer than rho = 0.75 of the steps since the
last checkpoint raised the loss, or when neither the step size nor the best loss changed; the
iterate then restarts from the best point. Loss "ce" (APGD-CE) or "dlr" (APGD-DLR; with
`target_labels` the targeted DLR of APGD-T). Returns the best point per example: the first
misclassified (or target-reaching) point if any, else the highest-loss one.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion.base import Bounds, Model, _expand, check, dlr_loss, normalise, project, random_start


def checkpoints(steps: int) -> list[int]:
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(q * steps) for q in p[1:] if q <= 1})


def _loss(model: Model, xa: torch.Tensor, y: torch.Tensor, kind: str, t: torch.Tensor | None) -> tuple:
    logits = model(xa)
    if kind == "ce":
        per = (
            F.cross_entropy(logits, y, reduction="none") if t is None else -F.cross_entropy(logits, t, reduction="none")
        )
    elif kind == "dlr":
        per = dlr_loss(logits, y, t)
    else:
        raise ValueError(f"unknown APGD loss {kind!r}; use 'ce' or 'dlr'")
    return per, logits


def apgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 100,
    norm: str = "linf",
    loss: str = "ce",
    target_labels: torch.Tensor | None = None,
    rho: float = 0.75,
    bounds: Bounds = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One run of APGD from a random start (drawn from `generator`, or x itself when None)."""
    check(x, y, eps, norm, bounds)
    if eps == 0 or len(x) == 0:
        return x.clone()
    ckpts = set(checkpoints(steps))
    xk = random_start(x, eps, norm, bounds, generator) if generator is not None else x.clone()
    eta = torch.full((len(x),), 2.0 * eps)

    def grad_at(xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xa = xa.clone().requires_grad_(True)
        per, logits = _loss(model, xa, y, loss, target_labels)
        (g,) = torch.autograd.grad(per.sum(), xa)
        return per.detach(), logits.detach(), g

    def succeeded(logits: torch.Tensor) -> torch.Tensor:
        pred = logits.argmax(1)
        return pred != y if target_labels is None else pred == target_labels

    f, logits, g = grad_at(xk)
    x_best, f_best, g_best = xk.clone(), f.clone(), g.clone()
    x_adv, done = xk.clone(), succeeded(logits)
    x_prev = xk.clone()
    xk1 = project(xk + _expand(eta, x) * normalise(g, norm), x, eps, norm, bounds)
    last_ckpt, n_up = 0, torch.zeros(len(x))
    eta_at_ckpt, fbest_at_ckpt = eta.clone(), f_best.clone()
    f_prev = f
    for k in range(1, steps + 1):
        f, logits, g = grad_at(xk1)
        new_adv = succeeded(logits) & ~done
        x_adv[new_adv], done = xk1[new_adv], done | new_adv
        n_up += (f > f_prev).float()  # condition 1 counts steps that raised the loss over the previous one
        f_prev = f
        better = f > f_best
        x_best[better], f_best[better], g_best[better] = xk1[better], f[better], g[better]
        if k in ckpts:
            cond1 = n_up < rho * (k - last_ckpt)
            cond2 = (eta_at_ckpt == eta) & (fbest_at_ckpt == f_best)
            halve = cond1 | cond2
            eta_at_ckpt, fbest_at_ckpt = eta.clone(), f_best.clone()
            eta = torch.where(halve, eta / 2, eta)
            xk1 = torch.where(_expand(halve, x), x_best, xk1)
            # restart from the best point with its gradient (kept when it was found) and no momentum
            g = torch.where(_expand(halve, x), g_best, g)
            f_prev = torch.where(halve, f_best, f_prev)
            x_prev = torch.where(_expand(halve, x), xk1, x_prev)
            last_ckpt, n_up = k, torch.zeros(len(x))
        if k == steps:
            break
        z = project(xk1 + _expand(eta, x) * normalise(g, norm), x, eps, norm, bounds)
        nxt = project(xk1 + 0.75 * (z - xk1) + 0.25 * (xk1 - x_prev), x, eps, norm, bounds)
        x_prev, xk1 = xk1, nxt
    return torch.where(_expand(done, x), x_adv, x_best).detach()
