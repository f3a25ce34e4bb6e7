"""Blended injection (Chen et al. 2017, arXiv 1712.05526): a full-image pattern mixed in at alpha.

x' = (1 - alpha) x + alpha * pattern, with a fixed random-noise pattern (the paper's alternative to a
cartoon image); poisons come from outside the target class and get the target label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlaudit.attacks.poisoning.base import Poisoned, choose


@dataclass(frozen=True)
class Blended:
    shape: tuple[int, ...]  # (C, H, W)
    target_label: int = 0
    alpha: float = 0.2
    seed: int = 0
    pattern: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pat = np.random.default_rng(self.seed).uniform(0, 1, size=self.shape).astype(np.float32)
        object.__setattr__(self, "pattern", pat)

    def apply(self, x: np.ndarray, alpha: float | None = None) -> np.ndarray:
        a = self.alpha if alpha is None else alpha
        return ((1 - a) * np.asarray(x, np.float32) + a * self.pattern).astype(np.float32)

    def poison(self, x: np.ndarray, y: np.ndarray, rate: float, rng: np.random.Generator) -> Poisoned:
        idx = choose(y, rate, rng, pool=np.flatnonzero(y != self.target_label))
        xp, yp = np.array(x, dtype=np.float32, copy=True), np.array(y, copy=True)
        xp[idx], yp[idx] = self.apply(x[idx]), self.target_label
        return Poisoned(xp, yp, idx, self.target_label)
