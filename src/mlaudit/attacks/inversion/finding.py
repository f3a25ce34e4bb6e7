"""One finding for the inversion audit: both attacks scored, their reconstructions shown per class."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from mlaudit.attacks.inversion.evaluate import InversionScore
from mlaudit.findings import Artifact, Finding, Metric, Severity, versions


def inversion_finding(
    scores: dict[str, InversionScore],
    images: dict[str, np.ndarray],
    classes: np.ndarray,
    class_names: tuple[str, ...],
    *,
    seed: int,
    threat_model: dict[str, Any],
    queries: int = 0,
    config: dict[str, Any] | None = None,
    duration_s: float = 0.0,
    chance: float | None = None,
) -> Finding:
    """`scores` and `images` (N, 1, H, W) by attack name ("optimisation", "generative"), made for `classes`;
    `queries` the target queries they used (0 with white-box gradients), `config` how they ran;
    `chance` the evaluation classifier's chance rate (default: one over the classes attacked)."""
    from mlaudit.images import grid_png

    metrics: dict[str, Metric] = {}
    rows = []
    for name, s in scores.items():
        metrics[f"{name}_attack_accuracy"] = Metric(
            s.accuracy, s.ci_low, s.ci_high, "evaluation classifier, Clopper-Pearson 95%"
        )
        metrics[f"{name}_ssim_to_nearest_member"] = Metric(
            s.mean_ssim, method="mean SSIM to the nearest member of the class"
        )
        metrics[f"{name}_psnr_to_nearest_member"] = Metric(s.mean_psnr, method="mean PSNR (dB)")
        rows.append(
            [
                name,
                s.n,
                f"{s.accuracy:.2%} [{s.ci_low:.2%}, {s.ci_high:.2%}]",
                f"{s.mean_ssim:.3f}",
                f"{s.mean_psnr:.1f}",
            ]
        )
    best = max(s.ci_low for s in scores.values())
    chance = chance if chance is not None else 1.0 / len(set(classes.tolist()))
    severity = (
        Severity.HIGH
        if best > 0.6
        else Severity.MEDIUM
        if best > 2 * chance
        else Severity.LOW
        if best > chance
        else Severity.INFO
    )
    grids = tuple(
        Artifact(
            "image_grid",
            f"Reconstructions of class {c} ({class_names[c]}), a row per attack",
            {
                "png_base64": base64.b64encode(
                    grid_png([images[k][classes == c] for k in images], list(images), title=class_names[c])
                ).decode()
            },
        )
        for c in sorted(set(classes.tolist()))
    )
    return Finding(
        id="model-inversion",
        category="inversion",
        attack="model-inversion",
        title="Model inversion: optimisation (Fredrikson et al. 2015) and generative (Zhang et al. 2020)",
        summary="An independent classifier recognises the intended class in "
        + ", ".join(f"{s.accuracy:.0%} of the {k} reconstructions" for k, s in scores.items())
        + f" (chance {chance:.0%}).",
        threat_model=threat_model,
        metrics=metrics,
        severity=severity,
        artifacts=(
            Artifact.table("Reconstructions scored", ["attack", "n", "attack accuracy", "SSIM", "PSNR dB"], rows),
            *grids,
        ),
        config={**(config or {}), "classes": sorted(set(classes.tolist())), "queries": queries},
        seed=seed,
        duration_s=round(duration_s, 3),
        versions=versions(),
    )
