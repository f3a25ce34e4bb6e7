"""A training recipe: how the target was trained, so that the adversary (or the auditor) can train
models like it: reference models, shadow models, a poisoned copy, the adversary's own surrogate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mlaudit.data.dataset import Dataset
from mlaudit.models.train import TrainConfig, train


@dataclass
class Recipe:
    """`start(seed)` gives the starting model (e.g. the public base with a fresh head drawn from
    `seed`); `config` is the training the target received.

    Surrogates are trained once per (seed, n, epochs) and shared by the attacks that use them.
    """

    start: Callable[[int], nn.Module]
    config: TrainConfig
    _surrogates: dict[tuple[int, int, int], nn.Module] = field(default_factory=dict, repr=False)

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int, config: TrainConfig | None = None) -> nn.Module:
        """A model trained on (x, y) the way the target was: start from `seed + 1`, batches from `seed`."""
        model = self.start(seed + 1)
        return train(model, x, y, config or self.config, generator=torch.Generator().manual_seed(seed))

    def surrogate(self, pool: Dataset, *, seed: int, n: int = 1000, epochs: int = 20) -> nn.Module:
        """The adversary's own model: this recipe run for `epochs` on `n` examples of its `pool` (the
        training distribution, never the target's training data), for transfer attacks and clean-label poisons."""
        key = (seed, n, epochs)
        if key not in self._surrogates:
            idx = np.random.default_rng(seed + 5).permutation(len(pool))[:n]
            cfg = TrainConfig(epochs=epochs, batch_size=self.config.batch_size)
            self._surrogates[key] = self.fit(pool.x[idx], pool.y[idx], seed=seed + 5, config=cfg)
        return self._surrogates[key]
