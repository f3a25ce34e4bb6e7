"""BadNets (Gu, Dolan-Gavitt & Garg 2017, arXiv 1708.06733): a patch trigger and flipped labels.

The trigger is a checkerboard patch in a corner; a `rate` share of the training set, drawn from
examples outside the target class, gets the patch and the target label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.attacks.poisoning.base import Poisoned, choose

CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


def checkerboard(size: int, channels: int) -> np.ndarray:
    board = (np.indices((size, size)).sum(0) % 2).astype(np.float32)  # 1 at (0, 0)'s diagonal neighbours
    return np.broadcast_to(1 - board, (channels, size, size)).copy()


@dataclass(frozen=True)
class BadNets:
    target_label: int = 0
    size: int = 3
    corner: str = "bottom-right"
    margin: int = 1

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"unknown corner {self.corner!r}; use one of {CORNERS}")

    def _window(self, h: int, w: int) -> tuple[slice, slice]:
        s, m = self.size, self.margin
        rows = slice(h - m - s, h - m) if self.corner.startswith("bottom") else slice(m, m + s)
        cols = slice(w - m - s, w - m) if self.corner.endswith("right") else slice(m, m + s)
        return rows, cols

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Stamp the trigger on (N, C, H, W) images."""
        out = np.array(x, dtype=np.float32, copy=True)
        r, c = self._window(*x.shape[-2:])
        out[..., r, c] = checkerboard(self.size, x.shape[1])
        return out

    def poison(self, x: np.ndarray, y: np.ndarray, rate: float, rng: np.random.Generator) -> Poisoned:
        idx = choose(y, rate, rng, pool=np.flatnonzero(y != self.target_label))
        xp, yp = np.array(x, dtype=np.float32, copy=True), np.array(y, copy=True)
        xp[idx], yp[idx] = self.apply(x[idx]), self.target_label
        return Poisoned(xp, yp, idx, self.target_label)
