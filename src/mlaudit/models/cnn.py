"""A small two-block convolutional network for 1- or 3-channel images."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class CNN(nn.Module):
    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, width: int = 32, image_size: int = 28) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "width": width,
            "image_size": image_size,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes)

    @classmethod
    def for_input(cls, shape: tuple[int, ...], num_classes: int, **kw: object) -> CNN:
        return cls(in_channels=shape[0], num_classes=num_classes, image_size=shape[-1], **kw)  # type: ignore[arg-type]
