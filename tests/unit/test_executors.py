"""Reference models trained in a process pool and on a local Ray instance are the models the
in-process loop trains from the same seeds (one torch thread per task everywhere)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from mlaudit.errors import ConfigError
from mlaudit.models import CNN, TrainConfig
from mlaudit.scenarios.references import train_references

KW = {"n_train": 100, "n_models": 3, "config": TrainConfig(epochs=2, batch_size=32), "seed": 5, "cache": None}


def _make(seed: int) -> CNN:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CNN(in_channels=1, num_classes=10, width=4, image_size=8)


def _same(a, b):
    for ma, mb in zip(a, b, strict=True):
        for (n, p), q in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=n)


@pytest.fixture(scope="module")
def in_process(digits01):
    x, y = digits01
    return train_references(_make, x, y, np.arange(300), key="loop", workers=1, **KW)


def test_process_pool_gives_the_in_process_models(digits01, in_process):
    x, y = digits01
    pooled, keep = train_references(_make, x, y, np.arange(300), key="pool", workers=2, **KW)
    np.testing.assert_array_equal(keep, in_process[1])
    _same(pooled, in_process[0])


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (pip install 'mlaudit[ray]')")
def test_ray_gives_the_local_executor_models(digits01, in_process, tmp_path):
    """Starts a local Ray instance (two CPUs), trains there, checkpoints each model as it returns."""
    x, y = digits01
    kw = {**KW, "cache": tmp_path}
    on_ray, keep = train_references(_make, x, y, np.arange(300), key="ray", executor="ray", **kw)
    np.testing.assert_array_equal(keep, in_process[1])
    _same(on_ray, in_process[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ray-{k}.safetensors" for k in range(3)]


USER_CODE = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(x))

def make():
    return Net()

def fit(model, x, y, *, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(3):
        for b in torch.randperm(len(xt), generator=g).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
            opt.step()
"""


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (pip install 'mlaudit[ray]')")
def test_ray_trains_a_users_network_and_fit_from_their_file(digits01, tmp_path):
    """The user's own class and training function, imported from a file the config names (a module Ray's
    workers cannot import by name), train on Ray to the models the in-process executor trains."""
    import dataclasses

    from mlaudit.models.factory import UserFit, load_factory

    (tmp_path / "user.py").write_text(USER_CODE)
    factory = load_factory(f"{tmp_path / 'user.py'}:make")
    config = TrainConfig(fit=UserFit.load(f"{tmp_path / 'user.py'}:fit", {}))

    def make(seed: int):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return factory()

    x, y = digits01
    kw = {**KW, "config": config}
    local, keep_local = train_references(make, x, y, np.arange(300), key="u", workers=1, **kw)
    on_ray, keep = train_references(make, x, y, np.arange(300), key="u", executor="ray", **kw)
    np.testing.assert_array_equal(keep, keep_local)
    _same(on_ray, local)
    untrained = make(5 * 1000)
    assert not torch.equal(local[0].head.weight, untrained.head.weight)  # the user's fit trained it
    assert dataclasses.replace(config, fit=None) == TrainConfig()


def test_unknown_executor_is_refused(digits01):
    x, y = digits01
    with pytest.raises(ConfigError, match="unknown executor 'dask'; use one of: local, ray"):
        train_references(_make, x, y, np.arange(300), key="x", executor="dask", **KW)
