"""Auditing DP-SGD with a persistent data trap (Feng & Tramer 2024, sec. on DP auditing): an epsilon
lower bound from what one trapped canary writes into the weights.

The canary's trap is persistent: its bait isolates the canary by a wide margin, so every time Poisson
sampling includes the canary the trap fires, and its amplifier (through a crafted wrong-class head
weight) makes the canary's per-example gradient lie almost entirely on the trap's row, along
u = (x*, 1) / |(x*, 1)|. After clipping to C, each inclusion moves that row by r * C * lr / L along u
(r <= 1, measured), and DP-SGD adds N(0, sigma^2 C^2) per coordinate per step. The statistic
S = <theta_0 - theta_T, u> * L / (lr * C) is therefore N(0, sigma^2 T) without the canary and
r * Binomial(T, q) + N(0, sigma^2 T) with it. Trials of S under both hypotheses are drawn from these
distributions (with the measured r, which the real DP-SGD runs also check), and the bound is
max over thresholds of log((TPR_low - delta) / FPR_high) with Clopper-Pearson limits: a lower bound
at the stated confidence (thresholds picked on one half of the trials, evaluated on the other).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlaudit.defenses.dp.audit import epsilon_lower_bound
from mlaudit.models.finetune import FineTune
from mlaudit.models.mlp import MLP
from mlaudit.supplychain.privacy_backdoor.membership import isolating_bait
from mlaudit.supplychain.privacy_backdoor.mlp import widen_with_traps
from mlaudit.supplychain.privacy_backdoor.victim import finetune


@dataclass(frozen=True)
class CanaryTrap:
    model: MLP
    unit: int  # first-layer unit of the trap
    u: np.ndarray  # (D + 1,) unit direction (x*, 1) / |(x*, 1)| over the trap row (weights, bias)


def build_canary_trap(
    base: MLP,
    canary: np.ndarray,
    calib: np.ndarray,
    *,
    amplifier: float = 1000.0,
    head_gain: float = 1000.0,
    activation: float = 100.0,
) -> CanaryTrap:
    """Persistent trap: pre-activation `activation` on the canary, -`activation` or less on calibration.

    The canary's loss gradient reaches the trap row with weight amplifier * head_gain * |(x*, 1)| but
    the amplifier and head weights only with activation * head_gain and activation * amplifier: both
    gains well above activation / |x*| put nearly all of the clipped gradient on the trap row.
    """
    x = canary.reshape(-1).astype(np.float64)
    c = calib.reshape(len(calib), -1).astype(np.float64)
    w = isolating_bait(x, c)
    own, top = float(w @ x), float((c @ w).max())
    if own <= top:
        raise ValueError("the canary is not separable from the calibration data; choose another canary")
    theta = 0.5 * (own + top)
    scale = activation / (own - theta)
    model, spec = widen_with_traps(
        base, (w * scale)[None], np.array([theta * scale]), amplifier=amplifier, kind="dp-canary"
    )
    with torch.no_grad():
        wrong = int(base(torch.as_tensor(canary[None], dtype=torch.float32)).argmin(1))
        model.head.weight[wrong, base.config["hidden"][1]] = head_gain  # crafted head: the gradient keeps its sign
    xe = np.append(x, 1.0)
    return CanaryTrap(model, spec.trap_units[0], xe / np.linalg.norm(xe))


def concentration(trap: CanaryTrap, model: nn.Module, canary: np.ndarray, label: int, max_grad_norm: float) -> float:
    """r = <clip_C(grad of the canary's loss), u> / C at the current weights (1 = all of C moves the trap)."""
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(
        model(torch.as_tensor(canary[None], dtype=torch.float32)), torch.as_tensor([label])
    )
    loss.backward()
    grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
    norm = float(torch.cat(grads).norm())
    layer = dict(model.named_modules())["features.1"]
    assert isinstance(layer, nn.Linear) and layer.weight.grad is not None and layer.bias.grad is not None
    row = torch.cat([layer.weight.grad[trap.unit], layer.bias.grad[trap.unit : trap.unit + 1]]).double().numpy()
    proj = float(row @ trap.u)  # S measures theta_0 - theta_T = lr * (sum of clipped gradients) along u
    scale = min(1.0, max_grad_norm / max(norm, 1e-12))
    model.zero_grad(set_to_none=True)
    return proj * scale / max_grad_norm


def statistic(
    trap: CanaryTrap,
    before: dict[str, np.ndarray],
    after: dict[str, np.ndarray],
    lr: float,
    expected_batch: float,
    max_grad_norm: float,
) -> float:
    k = trap.unit
    t0 = np.append(before["features.1.weight"][k], before["features.1.bias"][k]).astype(np.float64)
    t1 = np.append(after["features.1.weight"][k], after["features.1.bias"][k]).astype(np.float64)
    return float((t0 - t1) @ trap.u) * expected_batch / (lr * max_grad_norm)


@dataclass(frozen=True)
class AuditRow:
    epsilon: float  # accountant (RDP, Opacus) for the run
    noise_multiplier: float
    steps: int
    sample_rate: float
    concentration: float
    epsilon_lower: float
    s_with_canary: float  # observed statistic of the real DP-SGD run that included the canary
    s_without_canary: float
    z_with: float  # (S - r q T) / (sigma sqrt T): where the real run sits in the H1 model
    z_without: float  # S / (sigma sqrt T): where the real run without the canary sits in the H0 model


def audit(
    base: MLP,
    private_x: np.ndarray,
    private_y: np.ndarray,
    canary: np.ndarray,
    canary_y: int,
    calib: np.ndarray,
    *,
    epsilon: float,
    delta: float = 1e-5,
    sample_rate: float = 0.2,
    steps: int = 100,
    lr: float = 0.1,
    max_grad_norm: float = 1.0,
    trials: int = 4_000_000,
    seed: int = 0,
) -> AuditRow:
    """Audit DP-SGD at `epsilon` (the noise multiplier is set by Opacus's RDP accountant for the given
    sample rate, steps and delta); returns the accountant's epsilon beside the audited lower bound."""
    import warnings

    from opacus.accountants.utils import get_noise_multiplier

    n = len(private_x) + 1
    q = sample_rate
    batch_size = max(1, round(q * n))
    epochs = max(1, round(steps * batch_size / n))
    with warnings.catch_warnings():  # "optimal order is the largest alpha": the bound is still valid
        warnings.simplefilter("ignore", UserWarning)
        sigma = get_noise_multiplier(
            target_epsilon=epsilon, target_delta=delta, sample_rate=q, steps=steps, accountant="rdp"
        )
    trap = build_canary_trap(base, canary, calib)
    r = concentration(trap, copy.deepcopy(trap.model), canary, canary_y, max_grad_norm)
    ft = FineTune(
        optimizer="dp-sgd",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        noise_multiplier=sigma,
        max_grad_norm=max_grad_norm,
        fresh_head=False,
    )
    observed = []
    for with_canary in (True, False):
        model = copy.deepcopy(trap.model)
        before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        x = np.concatenate([private_x, canary[None]]) if with_canary else private_x
        y = np.concatenate([private_y, [canary_y]]) if with_canary else private_y
        res = finetune(model, x, y, ft, num_classes=int(private_y.max()) + 1, seed=seed + 7)
        after = {k.removeprefix("_module."): v.detach().numpy() for k, v in res.model.state_dict().items()}
        observed.append(statistic(trap, before, after, lr, q * n, max_grad_norm))
        if with_canary:
            r = min(r, concentration(trap, res.model, canary, canary_y, max_grad_norm))
    rng = np.random.default_rng(seed)
    sd = sigma * math.sqrt(steps)
    s0 = rng.normal(0.0, sd, trials)
    s1 = r * rng.binomial(steps, q, trials) + rng.normal(0.0, sd, trials)
    eps_lo = epsilon_lower_bound(s0, s1, delta=delta)
    return AuditRow(
        epsilon,
        sigma,
        steps,
        q,
        r,
        eps_lo,
        observed[0],
        observed[1],
        (observed[0] - r * q * steps) / sd,
        observed[1] / sd,
    )
