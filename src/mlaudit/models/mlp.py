"""A multi-layer perceptron over flattened inputs."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, *, in_features: int, num_classes: int, hidden: tuple[int, ...] = (256, 128)) -> None:
        super().__init__()
        dims = (in_features, *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(dims[-1], num_classes)
        self.config: dict[str, Any] = {"in_features": in_features, "num_classes": num_classes, "hidden": list(hidden)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes)

    @classmethod
    def for_input(cls, shape: tuple[int, ...], num_classes: int, **kw: object) -> MLP:
        return cls(in_features=math.prod(shape), num_classes=num_classes, **kw)  # type: ignore[arg-type]
