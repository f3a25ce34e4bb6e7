"""What the poisoning attacks share: the poisoned training set record, sampling the victims, ASR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.errors import InputError


@dataclass(frozen=True)
class Poisoned:
    """A training set after poisoning: `poison_idx` are the rows the attacker changed."""

    x: np.ndarray
    y: np.ndarray
    poison_idx: np.ndarray
    target_label: int

    @property
    def poison_rate(self) -> float:
        return len(self.poison_idx) / len(self.y)

    @property
    def is_poison(self) -> np.ndarray:
        m = np.zeros(len(self.y), bool)
        m[self.poison_idx] = True
        return m


def choose(y: np.ndarray, rate: float, rng: np.random.Generator, *, pool: np.ndarray) -> np.ndarray:
    """`rate * len(y)` distinct rows drawn from `pool` (indices), sorted."""
    if not 0 < rate < 1:
        raise InputError(f"poison rate must be in (0, 1), got {rate!r}; 0.05 means 5% of the training set")
    n = int(round(rate * len(y)))
    if n < 1 or n > len(pool):
        raise InputError(f"poison rate {rate} asks for {n} poisons but {len(pool)} rows are eligible")
    return np.sort(rng.choice(pool, size=n, replace=False))


def attack_success_rate(pred_triggered: np.ndarray, y_true: np.ndarray, target_label: int) -> float:
    """Share of triggered inputs, whose true class is not the target, classified as the target."""
    keep = y_true != target_label
    if not keep.any():
        raise InputError("every test input already belongs to the target class; ASR needs others")
    return float((pred_triggered[keep] == target_label).mean())
