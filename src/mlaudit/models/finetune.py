"""A fine-tuning recipe (optimizer, learning rates, epochs, batch size, DP-SGD's noise and clipping), its
result, and the parameter groups it trains: shared by the plain loop (supplychain.privacy_backdoor.victim)
and DP-SGD (defenses.dp)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class FineTune:
    optimizer: str = "sgd"  # sgd | adam | dp-sgd
    lr: float = 0.05
    head_lr: float | None = None  # the fresh head's own learning rate (None: lr), as in the paper's recipe
    momentum: float = 0.0
    epochs: int = 2
    batch_size: int = 32
    # DP-SGD (Opacus): noise multiplier and per-example clipping norm
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    fresh_head: bool = True  # False: fine-tune the shipped classifier head (same label set)


@dataclass
class FineTuneResult:
    model: nn.Module
    activations: dict[int, set[int]] = field(default_factory=dict)  # unit -> indices of activating examples
    epsilon: float | None = None


def fresh_head(model: nn.Module, num_classes: int, *, seed: int) -> None:
    """Replace model.head by a freshly initialised linear layer (PyTorch's default init, seeded)."""
    old = model.head
    assert isinstance(old, nn.Linear)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model.head = nn.Linear(old.in_features, num_classes)


def param_groups(model: nn.Module, cfg: FineTune) -> list[dict[str, object]]:
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    return [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr if cfg.head_lr is not None else cfg.lr}]
