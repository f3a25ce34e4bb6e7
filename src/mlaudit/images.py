"""Image grids as PNG bytes for image_grid artifacts (drawn once, when the finding is made)."""

from __future__ import annotations

import io

import numpy as np


def grid_png(rows: list[np.ndarray], row_titles: list[str], *, title: str = "", cmap: str = "gray") -> bytes:
    """One row per array of images (N, C, H, W) or (N, H, W), same N; values drawn in [0, 1]
    (a row whose values leave [0, 1] is rescaled to its own range, e.g. perturbations)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(r) for r in rows)
    # one axes a row holding the row's images side by side (a gap of blank pixels between them): one
    # image per axes took 0.4 s for a 2 x 8 grid, most of it laying out 16 axes
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.8 * n + 1.2, 0.9 * len(rows)), squeeze=False)
    for ax, imgs, name in zip(axes[:, 0], rows, row_titles, strict=True):
        a = np.asarray(imgs, dtype=np.float64)
        lo, hi = (0.0, 1.0) if a.min() >= 0 and a.max() <= 1 else (a.min(), a.max())
        ax.set_xticks([])
        ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
        ax.imshow(_strip(a, n, blank=hi), cmap=cmap, vmin=lo, vmax=hi)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _strip(a: np.ndarray, n: int, *, blank: float) -> np.ndarray:
    """Images (N, C, H, W) or (N, H, W) laid side by side as one (H, n * (W + gap), [3]) array; slots past N
    and the gaps hold `blank`."""
    imgs = [im[0] if im.ndim == 3 and im.shape[0] == 1 else np.moveaxis(im, 0, -1) if im.ndim == 3 else im for im in a]
    h, w = imgs[0].shape[:2] if imgs else (1, 1)
    gap = max(1, w // 10)
    out = np.full((h, n * (w + gap) - gap, *imgs[0].shape[2:]) if imgs else (h, n), blank, dtype=np.float64)
    for j, im in enumerate(imgs):
        out[:, j * (w + gap) : j * (w + gap) + w] = im
    return out
