"""Reference training checkpoints each finished model: an interruption midway keeps them, and the rerun
trains only the rest and ends with the same models (same seeds) as an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit.models import CNN, TrainConfig
from mlaudit.progress import NullProgress
from mlaudit.scenarios.references import train_references


class _StopAfter(NullProgress):
    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def update(self, key: str, completed: int) -> None:
        self.calls += 1
        if self.calls >= self.n:
            raise KeyboardInterrupt


def _make(seed: int) -> CNN:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CNN(in_channels=1, num_classes=10, width=4, image_size=8)


def test_interrupted_reference_training_resumes_with_the_finished_models(tmp_path, digits01, caplog):
    x, y = digits01
    pool = np.arange(400)
    kw = {"n_train": 200, "n_models": 4, "config": TrainConfig(epochs=2, batch_size=64), "seed": 3, "key": "refs"}
    with pytest.raises(KeyboardInterrupt):
        train_references(_make, x, y, pool, cache=tmp_path / "a", progress=_StopAfter(2), **kw)
    # the pool finishes models in any order: exactly the two that finished are on disk
    assert len([p for p in (tmp_path / "a").iterdir() if p.suffix == ".safetensors"]) == 2
    with caplog.at_level("INFO", logger="mlaudit.scenarios.references"):
        resumed, keep = train_references(_make, x, y, pool, cache=tmp_path / "a", **kw)
    assert "training 2 of 4 reference models" in caplog.text
    fresh, keep2 = train_references(_make, x, y, pool, cache=tmp_path / "b", **kw)
    np.testing.assert_array_equal(keep, keep2)
    for a, b in zip(resumed, fresh, strict=True):
        for (n, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=n)
