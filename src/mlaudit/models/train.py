"""One training loop for every reference architecture: minibatch SGD / Adam on cross-entropy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total) in optimiser steps


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" | "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0

    def make_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        raise ValueError(f"unknown optimizer {self.optimizer!r}; use 'adam' or 'sgd'")


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    progress: Progress | None = None,
) -> nn.Module:
    """Train `model` in place on (x, y) and return it in eval mode. Shuffling draws from `generator`."""
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = config.make_optimizer(params)
    n = len(xt)
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    total, done = config.epochs * steps_per_epoch, 0
    model.train()
    for epoch in range(config.epochs):
        perm = torch.randperm(n, generator=generator)
        running = 0.0
        for i in range(0, n, config.batch_size):
            idx = perm[i : i + config.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            running += float(loss.detach()) * len(idx)
            done += 1
            if progress is not None:
                progress(done, total)
        log.debug("epoch %d loss %.4f", epoch, running / n)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, *, batch_size: int = 1024) -> float:
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    correct = 0
    for i in range(0, len(xt), batch_size):
        correct += int((model(xt[i : i + batch_size]).argmax(1).numpy() == y[i : i + batch_size]).sum())
    return correct / len(xt)
