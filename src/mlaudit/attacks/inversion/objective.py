"""What the inversion searches maximise: the target's log-probability of a class for a rendered image.

With gradient access it is differentiated exactly (`white_box`). With scores only (`black_box`) the
gradient with respect to the search variable is estimated by natural evolution strategies (Ilyas et
al. 2018, "Black-box Adversarial Attacks with Limited Queries and Information", antithetic Gaussian
samples): each step asks the target about 2 x `samples` perturbed renderings per candidate, so the
search runs on the target's probability API and its query budget. The search variable is whatever
the attack optimises (pixels for Fredrikson et al., the generator's latent for GMI), so the estimate
lives in the space where it is cheapest: 16 dimensions for a GMI latent against 784 for pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mlaudit.targets.base import Target

Render = Callable[[torch.Tensor], torch.Tensor]  # search variable -> images in [0, 1]


class Objective(Protocol):
    def __call__(self, render: Render, params: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(y | render(params)) per candidate, differentiable with respect to `params`."""
        ...


def white_box(model: nn.Module) -> Objective:
    model.eval()

    def objective(render: Render, params: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(render(params)), -1).gather(1, y[:, None])[:, 0]

    return objective


class _NES(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, params: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], samples: int,
                sigma: float, generator: torch.Generator) -> torch.Tensor:  # fmt: skip
        ctx.f, ctx.samples, ctx.sigma, ctx.generator = f, samples, sigma, generator
        ctx.save_for_backward(params.detach())
        return f(params.detach())

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (params,) = ctx.saved_tensors
        s, sigma = ctx.samples, ctx.sigma
        u = torch.randn((s, *params.shape), generator=ctx.generator)
        both = torch.cat([params[None] + sigma * u, params[None] - sigma * u]).flatten(0, 1)
        v = ctx.f(both).view(2, s, len(params))
        diff = (v[0] - v[1]).view(s, len(params), *([1] * (params.dim() - 1)))
        grad = (diff * u).sum(0) / (2 * sigma * s)
        return grad * grad_out.view(-1, *([1] * (params.dim() - 1))), None, None, None, None


def black_box(target: Target, *, samples: int = 10, sigma: float = 0.2, generator: torch.Generator) -> Objective:
    """Scores only: values from `target.probabilities` (queries counted), gradients by NES with
    2 x `samples` antithetic queries per candidate, perturbations of scale `sigma` in the search space."""

    def objective(render: Render, params: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        def f(p: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                x = render(p)
            yy = y.repeat(len(p) // len(y))
            probs = target.probabilities(x.numpy())
            return torch.as_tensor(np.log(probs[np.arange(len(x)), yy.numpy()] + 1e-12), dtype=torch.float32)

        return _NES.apply(params, f, samples, sigma, generator)  # type: ignore[no-any-return]

    return objective


def search(
    objective: Objective,
    render: Render,
    start: torch.Tensor,
    y: torch.Tensor,
    penalty: Callable[[torch.Tensor], torch.Tensor],
    *,
    steps: int,
    lr: float,
    restarts: int,
) -> torch.Tensor:
    """The search both inversion attacks run: Adam on the candidates `start` ((n x restarts, ...), the
    restarts of a class adjacent; `y` their classes) minimising -objective + penalty (the attack's
    prior), then for each class the rendering of its restart the target is most confident in."""
    params = start.requires_grad_(True)
    opt = torch.optim.Adam([params], lr=lr)
    for _ in range(steps):
        loss = (-objective(render, params, y) + penalty(params)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = render(params)
        n = len(params) // restarts
        best = objective(render, params, y).view(n, restarts).argmax(1)
        return x.view(n, restarts, *x.shape[1:])[torch.arange(n), best]


def queries_per_step(n_candidates: int, samples: int) -> int:
    """Target queries one black-box search step costs: the value, then 2 x samples for the gradient."""
    return n_candidates * (1 + 2 * samples)
