"""Generative model inversion (Zhang et al. 2020, CVPR, "The Secret Revealer", GMI; the same latent
search as Plug & Play attacks): instead of pixels, search the latent space of a generator trained on
the adversary's auxiliary images, so every candidate stays a plausible image. Here the generator is
the decoder of a small VAE (models.vae) trained on unlabelled auxiliary data; the search minimises
-log p(class | G(z)) + lambda ||z||^2 (the prior's log-density) from several random latents and keeps
the one the target is most confident in. log p comes from the objective (attacks.inversion.objective):
exact with gradient access, NES-estimated in the 16-dimensional latent with scores only."""

from __future__ import annotations

import torch

from mlaudit.attacks.inversion.objective import Objective, search
from mlaudit.models.vae import VAE


def invert(
    objective: Objective,
    generator_model: VAE,
    classes: list[int],
    *,
    steps: int = 300,
    lr: float = 0.05,
    prior: float = 0.01,
    restarts: int = 8,
    generator: torch.Generator,
) -> torch.Tensor:
    """One reconstruction per class: G(z*) for the best of `restarts` latent searches."""
    for p in generator_model.parameters():
        p.requires_grad_(False)
    y = torch.as_tensor(classes).repeat_interleave(restarts)
    z = torch.randn(len(y), generator_model.latent, generator=generator)
    return search(
        objective,
        generator_model.decode,
        z,
        y,
        lambda v: prior * v.pow(2).sum(1),
        steps=steps,
        lr=lr,
        restarts=restarts,
    )
