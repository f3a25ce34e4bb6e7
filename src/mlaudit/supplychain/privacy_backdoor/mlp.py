"""Data traps in the first layer of an MLP (Feng & Tramer 2024, arXiv 2404.00473, section "data traps").

A trap is a ReLU unit h = ReLU(w.x + b) with a random bait direction w and a bias set so that only a
few examples per epoch exceed it. Under SGD its row update is a multiple of (x*, 1) for the single
example x* that activates it, so x* = dW / db. The latch: an amplifier unit in the next layer
multiplies h by a large factor, so that through the victim's fresh random head the first activation
already produces a large positive gradient on h, which lowers b until nothing activates the trap again.
The backdoored MLP is the clean one widened by the trap and amplifier units; the benign units are
copied unchanged and never see the traps, so clean utility is kept.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlaudit.models.mlp import MLP
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec


def bait_thresholds(w: np.ndarray, calib: np.ndarray, rate: float) -> np.ndarray:
    """Per-row threshold: the (1 - rate) quantile of w . x over calibration data. Shapes: (T, D), (N, D)."""
    scores = calib @ w.T  # (N, T)
    return np.quantile(scores, 1.0 - rate, axis=0)


def build_mlp_traps(
    base: MLP,
    calib: np.ndarray,
    *,
    n_traps: int = 64,
    rate: float = 0.0015,
    amplifier: float = 1000.0,
    generator: np.random.Generator,
) -> tuple[MLP, TrapSpec]:
    """Return a widened copy of `base` with `n_traps` traps in its first layer, and their spec.

    Args:
        calib: the attacker's in-distribution data (N, ...) used to set each trap's threshold.
        rate: fraction of examples expected to exceed a trap (about 3 / victim dataset size).
        amplifier: gain of the amplifier units that make the first activation close the trap.
    """
    hidden = tuple(base.config["hidden"])
    if len(hidden) != 2:
        raise ValueError(f"the trap MLP needs exactly two hidden layers (trap, amplifier), got hidden={hidden}")
    x = calib.reshape(len(calib), -1).astype(np.float64)
    w = generator.normal(size=(n_traps, base.config["in_features"]))
    w /= np.linalg.norm(w, axis=1, keepdims=True)  # unit baits: nearly orthogonal in high dimension
    model, spec = widen_with_traps(base, w, bait_thresholds(w, x, rate), amplifier=amplifier)
    return model, spec


def widen_with_traps(
    base: MLP, w: np.ndarray, theta: np.ndarray, *, amplifier: float, kind: str = "reconstruction"
) -> tuple[MLP, TrapSpec]:
    """Copy `base` into a wider MLP whose extra first-layer units are traps ReLU(w_j . x - theta_j),
    each read by one amplifier unit of gain `amplifier` in the second layer."""
    hidden = tuple(base.config["hidden"])
    if len(hidden) != 2:
        raise ValueError(f"the trap MLP needs exactly two hidden layers (trap, amplifier), got hidden={hidden}")
    n_traps, d = w.shape
    model = MLP(
        in_features=d, num_classes=base.config["num_classes"], hidden=(hidden[0] + n_traps, hidden[1] + n_traps)
    )
    l1, l2 = model.features[1], model.features[3]
    b1, b2 = base.features[1], base.features[3]
    assert (
        isinstance(l1, nn.Linear)
        and isinstance(l2, nn.Linear)
        and isinstance(b1, nn.Linear)
        and isinstance(b2, nn.Linear)
    )
    h0, h1 = hidden
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        l1.weight[:h0] = b1.weight
        l1.bias[:h0] = b1.bias
        l1.weight[h0:] = torch.as_tensor(w, dtype=torch.float32)
        l1.bias[h0:] = torch.as_tensor(-theta, dtype=torch.float32)
        l2.weight[:h1, :h0] = b2.weight  # benign units never read the traps
        l2.bias[:h1] = b2.bias
        for j in range(n_traps):
            l2.weight[h1 + j, h0 + j] = amplifier  # amplifier j reads only trap j
        model.head.weight[:, :h1] = base.head.weight  # the victim's fresh head replaces it anyway
        model.head.bias[:] = base.head.bias
    spec = TrapSpec(
        "mlp",
        "features.1",
        "features.3",
        tuple(range(h0, h0 + n_traps)),
        tuple(range(h1, h1 + n_traps)),
        amplifier,
        (d,),
        tuple(float(t) for t in theta),
        kind=kind,
        config={"n_traps": n_traps},
    )
    return model.eval(), spec
