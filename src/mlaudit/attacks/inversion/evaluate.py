"""How the inversion literature scores reconstructions: an independent evaluation classifier, trained
on other data, labels them (attack accuracy: the share labelled with the class they were made for),
and each is compared with the nearest training example of its class (SSIM and PSNR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.metrics import clopper_pearson, psnr, ssim


@dataclass(frozen=True)
class InversionScore:
    accuracy: float
    ci_low: float
    ci_high: float
    mean_ssim: float  # to the nearest member of the class
    mean_psnr: float
    n: int


def score_reconstructions(
    recon: np.ndarray,
    classes: np.ndarray,
    eval_labels: np.ndarray,
    members_x: np.ndarray,
    members_y: np.ndarray,
) -> InversionScore:
    """recon (N, 1, H, W) made for `classes` (N,); `eval_labels` (N,) from the evaluation classifier."""
    hits = int((eval_labels == classes).sum())
    lo, hi = clopper_pearson(hits, len(classes))
    s, p = [], []
    for img, c in zip(recon, classes, strict=True):
        pool = members_x[members_y == c]
        d = ((pool - img[None]) ** 2).reshape(len(pool), -1).mean(1)
        nearest = pool[int(d.argmin())]
        s.append(ssim(img[0], nearest[0]))
        p.append(psnr(img, nearest))
    return InversionScore(hits / len(classes), lo, hi, float(np.mean(s)), float(np.mean(p)), len(classes))
