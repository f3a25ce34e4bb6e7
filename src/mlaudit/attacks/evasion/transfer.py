"""Transfer attacks from the public base model (Papernot et al. 2016, arXiv 1605.07277).

The adversary never queries the fine-tuned target's gradients: it crafts on a surrogate it holds
(the open-source base, fine-tuned on its own data when the heads differ) and submits the result.
Two surrogate objectives: the usual cross-entropy on the surrogate's labels, and, when the base's
head is for other classes, feature disruption, pushing the base's penultimate representation away
from the clean one (Inkawhich et al. 2019's feature-space idea, untargeted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.evasion.base import Bounds, Labels, check, normalise, project, random_start
from mlaudit.metrics import clopper_pearson


@dataclass(frozen=True)
class TransferResult:
    n_correct: int  # target correct on the clean inputs (the denominator)
    n_fooled: int  # of those, misclassified after the transferred perturbation
    ci: tuple[float, float]  # Clopper-Pearson 95%

    @property
    def success_rate(self) -> float:
        return self.n_fooled / self.n_correct if self.n_correct else float("nan")


def success(labels: Labels, x: np.ndarray, x_adv: np.ndarray, y: np.ndarray) -> TransferResult:
    """Success on the target: share of its correctly classified inputs that the perturbation flips."""
    ok = labels(x) == y
    fooled = (labels(x_adv[ok]) != y[ok]).sum() if ok.any() else 0
    n, k = int(ok.sum()), int(fooled)
    return TransferResult(n, k, clopper_pearson(k, n) if n else (0.0, 1.0))


def feature_disruption(
    features: nn.Module,
    x: torch.Tensor,
    *,
    eps: float,
    steps: int = 20,
    step_size: float | None = None,
    bounds: Bounds = (0.0, 1.0),
    generator: torch.Generator,
) -> torch.Tensor:
    """Linf PGD maximising ||phi(x') - phi(x)||_2 on a feature extractor phi (no labels needed)."""
    check(x, None, eps, "linf", bounds)
    if eps == 0:
        return x.clone()
    alpha = 2.5 * eps / steps if step_size is None else step_size
    with torch.no_grad():
        ref = features(x)
    xa = random_start(x, eps, "linf", bounds, generator)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = (features(xa) - ref).pow(2).sum()
        (g,) = torch.autograd.grad(loss, xa)
        xa = project(xa.detach() + alpha * normalise(g, "linf"), x, eps, "linf", bounds)
    return xa.detach()
