"""What the evasion attacks share: input checks, Lp projections and the DLR loss.

A white-box attack takes `model`, any differentiable callable from a (B, ...) float tensor to (B, C)
logits (foolbox's contract: a model is bounds plus __call__). Score-based and label-only attacks take
a numpy callable instead, so a Target's query budget applies to them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mlaudit.errors import InputError

Model = Callable[[torch.Tensor], torch.Tensor]  # (B, ...) -> (B, C) logits, differentiable
Scores = Callable[[np.ndarray], np.ndarray]  # (B, ...) -> (B, C) probabilities or logits
Labels = Callable[[np.ndarray], np.ndarray]  # (B, ...) -> (B,) predicted labels
Bounds = tuple[float, float]
NORMS = ("linf", "l2")


def check(x: torch.Tensor, y: torch.Tensor | None, eps: float, norm: str, bounds: Bounds) -> None:
    """Refuse inputs an attack cannot mean: negative eps, unknown norm, inputs outside the bounds,
    labels that do not pair with the inputs (`y` None: an attack that needs no labels)."""
    if norm not in NORMS:
        raise InputError(f"unknown norm {norm!r}; use one of {NORMS}")
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    if y is not None and len(x) != len(y):
        raise InputError(f"{len(x)} inputs but {len(y)} labels; pass one label per input")
    lo, hi = bounds
    if len(x) and (float(x.min()) < lo - 1e-6 or float(x.max()) > hi + 1e-6):
        raise InputError(
            f"inputs span [{float(x.min()):.4g}, {float(x.max()):.4g}], outside bounds {bounds}; "
            "scale the inputs or pass the model's bounds"
        )


def flat_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example norm, shape (B,)."""
    f = v.flatten(1)
    return f.abs().amax(1) if norm == "linf" else f.norm(dim=1)


def _expand(s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return s.view(-1, *([1] * (like.dim() - 1)))


def normalise(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for Linf, g/||g||_2 for L2."""
    if norm == "linf":
        return g.sign()
    return g / _expand(flat_norm(g, "l2").clamp_min(1e-12), g)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str, bounds: Bounds) -> torch.Tensor:
    """Project onto the eps-ball around x intersected with the input box."""
    if norm == "linf":
        x_adv = x + torch.clamp(x_adv - x, -eps, eps)  # the textbook form, so results match other tools' bit for bit
    else:
        d = x_adv - x
        n = flat_norm(d, "l2")
        d = d * _expand(torch.clamp(eps / n.clamp_min(1e-12), max=1.0), d)
        x_adv = x + d
    return x_adv.clamp(*bounds)


def random_start(x: torch.Tensor, eps: float, norm: str, bounds: Bounds, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the Linf ball, or a uniform point of the L2 ball (direction x radius)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
        return (x + eps * u).clamp(*bounds)
    d = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    d = d / _expand(flat_norm(d, "l2").clamp_min(1e-12), d)
    r = torch.rand(len(x), generator=generator, dtype=x.dtype) ** (1.0 / x[0].numel())
    return project(x + d * _expand(r * eps, d), x, eps, norm, bounds)


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference of logits ratio (Croce & Hein 2020, arXiv 2003.01690), per example, to maximise.

    Untargeted: -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3). Targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2).
    Invariant to shifting and scaling the logits, so a rescaled softmax cannot hide the gradient.
    """
    srt = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, y[:, None])[:, 0]
    if target is None:
        other = logits.clone()
        other.scatter_(1, y[:, None], -torch.inf)
        return -(z_y - other.amax(1)) / (srt[:, 0] - srt[:, 2] + 1e-12)
    z_t = logits.gather(1, target[:, None])[:, 0]
    return -(z_y - z_t) / (srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) + 1e-12)


@torch.no_grad()
def predict_labels(model: Model | torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's predicted labels (N,) for numpy inputs, in eval mode."""
    if isinstance(model, torch.nn.Module):
        model.eval()
    return model(torch.as_tensor(x, dtype=torch.float32)).argmax(1).numpy()  # type: ignore[no-any-return]


def tensors(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
