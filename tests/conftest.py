"""Shared fixtures: tiny models built in about a second, data made here or shipped by packages."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from mlaudit.data import Dataset, digits, split
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.targets import TorchTarget

# make test runs two pytest-xdist workers on the 2 cores: one torch thread each (alone: both)
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def digits_data() -> Dataset:
    return digits()


@pytest.fixture(scope="session")
def digits_split(digits_data: Dataset) -> dict[str, Dataset]:
    s = split(digits_data, {"members": 200, "nonmembers": 200, "control_a": 300, "control_b": 300}, seed=0)
    return {k: s.part(digits_data, k) for k in s.indices}


@pytest.fixture(scope="session")
def overfit_target(digits_split: dict[str, Dataset]) -> TorchTarget:
    """An MLP trained to zero loss on 200 digits: the members leak (the positive case)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=64, num_classes=10, hidden=(128,))
    m = digits_split["members"]
    train(model, m.x, m.y, TrainConfig(epochs=150, batch_size=32, lr=3e-3), generator=torch.Generator().manual_seed(0))
    return TorchTarget(model, num_classes=10, name="overfit-mlp")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def random_labels() -> dict[str, Dataset]:
    """Gaussian inputs with random labels: nothing generalises, so a fit model can only memorise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=400)
    d = Dataset(x, y, tuple(map(str, range(10))), "random-labels", "tabular")
    return {"members": d.subset(np.arange(200), "members"), "nonmembers": d.subset(np.arange(200, 400), "nonmembers")}


@pytest.fixture(scope="session")
def memorizer(random_labels: dict[str, Dataset]) -> TorchTarget:
    """An MLP that memorised 200 random labels (training accuracy 1, test accuracy ~chance)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=32, num_classes=10, hidden=(256,))
    m = random_labels["members"]
    train(model, m.x, m.y, TrainConfig(epochs=200, batch_size=32, lr=3e-3), generator=torch.Generator().manual_seed(0))
    return TorchTarget(model, num_classes=10, name="memorizer")


@pytest.fixture(scope="session")
def digits01(digits_data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Digits as (N, 1, 8, 8) images in [0, 1]."""
    x = digits_data.x.reshape(-1, 1, 8, 8).astype(np.float32)
    return x / x.max(), digits_data.y
