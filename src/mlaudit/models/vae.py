"""A small convolutional VAE for 28x28 grey images: the generative image prior of the inversion
attacks (its decoder maps a latent z ~ N(0, I) to an image in [0, 1])."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class VAE(nn.Module):
    def __init__(self, latent: int = 16) -> None:
        super().__init__()
        self.latent = latent
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 2 * latent),
        )  # fmt: skip
        self.dec = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid(),
        )  # fmt: skip

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar, mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def train_vae(
    x: np.ndarray, *, latent: int = 16, epochs: int = 10, batch_size: int = 128, generator: torch.Generator
) -> VAE:
    """Fit on images (N, 1, 28, 28) in [0, 1] (labels are not used); weights and batches from `generator`."""
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        vae = VAE(latent)
        opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
        xt = torch.as_tensor(x, dtype=torch.float32)
        for _ in range(epochs):
            for idx in torch.randperm(len(xt), generator=generator).split(batch_size):
                mu, logvar, z = vae(xt[idx])
                rec = nn.functional.binary_cross_entropy(vae.decode(z), xt[idx], reduction="sum")
                kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                loss = (rec + kl) / len(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return vae.eval()
