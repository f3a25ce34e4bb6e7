"""Models for the security tests: a digits MLP (about a second) and images scaled to [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit.models import MLP, TrainConfig, train


@pytest.fixture(scope="session")
def digits_mlp(digits01: tuple[np.ndarray, np.ndarray]) -> torch.nn.Module:
    """An MLP trained on the first 1,200 digits (test accuracy about 0.95 on the rest)."""
    x, y = digits01
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = MLP(in_features=64, num_classes=10, hidden=(128,))
    train(
        m,
        x[:1200],
        y[:1200],
        TrainConfig(epochs=40, batch_size=64, lr=3e-3),
        generator=torch.Generator().manual_seed(0),
    )
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()
