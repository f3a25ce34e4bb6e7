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


def test_unknown_executor_is_refused(digits01):
    x, y = digits01
    with pytest.raises(ConfigError, match="unknown executor 'dask'; use one of: local, ray"):
        train_references(_make, x, y, np.arange(300), key="x", executor="dask", **KW)
