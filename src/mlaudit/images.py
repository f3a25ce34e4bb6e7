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
    fig, axes = plt.subplots(len(rows), n, figsize=(0.8 * n + 1.2, 0.9 * len(rows)), squeeze=False)
    for i, (imgs, name) in enumerate(zip(rows, row_titles, strict=True)):
        a = np.asarray(imgs, dtype=np.float64)
        lo, hi = (0.0, 1.0) if a.min() >= 0 and a.max() <= 1 else (a.min(), a.max())
        for j in range(n):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(a):
                img = a[j]
                img = (
                    img[0] if img.ndim == 3 and img.shape[0] == 1 else np.moveaxis(img, 0, -1) if img.ndim == 3 else img
                )
                ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
        axes[i][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
