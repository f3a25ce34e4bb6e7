"""The augmented queries of LiRA (Carlini et al. 2022, Section VI-A): the target and every
reference are also queried on a few deterministic variants of each image, and the attack combines
the per-variant likelihood ratios. Images only (N, C, H, W); each shift fills the vacated border
with zeros, the background of the built-in datasets."""

from __future__ import annotations

import numpy as np

VIEWS = ("mirror", "shift-right", "shift-left", "shift-down", "shift-up")


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def view(x: np.ndarray, name: str) -> np.ndarray:
    """One named variant of a batch of images (N, C, H, W)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"augmented queries need images (N, C, H, W), got shape {x.shape}")
    if name == "mirror":
        return x[..., ::-1].copy()
    shifts = {"shift-right": (0, 1), "shift-left": (0, -1), "shift-down": (1, 0), "shift-up": (-1, 0)}
    if name not in shifts:
        raise ValueError(f"unknown view {name!r}; use one of {VIEWS}")
    return _shift(x, *shifts[name])


def augmentable(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 4
