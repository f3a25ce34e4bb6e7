"""Read trapped examples back from the weights before and after fine-tuning: x* = dW / db per trap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit import metrics
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec

MIN_DB = 1e-10  # a trap whose bias moved less than this never fired


@dataclass(frozen=True)
class Reconstruction:
    images: np.ndarray  # (T, D) reconstructed inputs, NaN rows for traps that never fired
    db: np.ndarray  # (T,) bias change per trap
    fired: np.ndarray  # (T,) bool


def reconstruct_mlp(before: dict[str, np.ndarray], after: dict[str, np.ndarray], spec: TrapSpec) -> Reconstruction:
    units = np.asarray(spec.trap_units)
    w0, w1 = before[f"{spec.layer}.weight"][units], after[f"{spec.layer}.weight"][units]
    b0, b1 = before[f"{spec.layer}.bias"][units], after[f"{spec.layer}.bias"][units]
    dw = w1.astype(np.float64) - w0
    db = b1.astype(np.float64) - b0
    fired = np.abs(db) > MIN_DB
    images = np.full(dw.shape, np.nan)
    images[fired] = dw[fired] / db[fired, None]
    return Reconstruction(images, db, fired)


@dataclass(frozen=True)
class Match:
    trap: int
    example: int  # index of the nearest training example
    ssim: float
    psnr: float
    max_abs_error: float


def match_images(rec: Reconstruction, train_x: np.ndarray, shape: tuple[int, int]) -> list[Match]:
    """Nearest training example (L2) of every fired trap, with SSIM and PSNR against it."""
    flat = train_x.reshape(len(train_x), -1).astype(np.float64)
    out = []
    for j in np.flatnonzero(rec.fired):
        r = rec.images[j]
        k = int(np.argmin(((flat - r) ** 2).sum(1)))
        a, b = np.clip(r, 0, 1).reshape(shape), flat[k].reshape(shape)
        out.append(Match(int(j), k, metrics.ssim(a, b), metrics.psnr(a, b), float(np.abs(r - flat[k]).max())))
    return out


def best_pairs(rec: Reconstruction, matches: list[Match], train_x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, 2, *shape): each fired trap's reconstruction beside its nearest example, best SSIM first."""
    flat = train_x.reshape(len(train_x), -1)
    order = sorted(matches, key=lambda m: -m.ssim)
    if not order:
        return np.zeros((0, 2, *shape))
    return np.stack(
        [np.stack([np.clip(rec.images[m.trap], 0, 1).reshape(shape), flat[m.example].reshape(shape)]) for m in order]
    )
