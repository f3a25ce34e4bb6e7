"""Neural Cleanse (Wang et al. 2019, IEEE S&P): reverse-engineer, for every label, the smallest mask
and pattern that send clean inputs to it; a backdoor's label needs a far smaller mask than the rest.

Per label t: minimise CE(f((1 - m) * x + m * p), t) + cost * |m|_1 over m = (tanh(a) + 1)/2 (one
channel, H x W) and p = (tanh(b) + 1)/2 (C x H x W) with Adam, on clean data. `cost` follows the
paper's schedule: raised x1.5 after `patience` epochs at or above the success threshold, lowered
/1.5^1.5 after `patience` epochs below it; the smallest mask reaching the threshold is kept.
Outlier test: anomaly index = (median - |m_t|_1) / (1.4826 * MAD) for labels below the median;
index > 2 flags t as a backdoor target.

The threshold 2 is per label (a normal point passes it about 2% of the time); the largest of n labels'
indices passes it far more often: 27% for n = 5 and 33% for n = 10 normal mask norms (simulated).
`familywise_threshold(n)` is the 95% quantile of that maximum, for a scan that should raise an
alarm on a clean model at most 5% of the time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

Model = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) -> (B, classes) logits
CONSISTENCY = 1.4826  # MAD -> standard deviation under normality


@dataclass(frozen=True)
class NeuralCleanseResult:
    l1: np.ndarray  # (C,) L1 norm of each label's reverse-engineered mask
    success: np.ndarray  # (C,) attack success of that mask on clean data
    anomaly_index: np.ndarray  # (C,) >= 0 below the median, 0 above it
    masks: np.ndarray  # (C, H, W)
    patterns: np.ndarray  # (C, Ch, H, W)
    threshold: float = 2.0

    @property
    def flagged(self) -> tuple[int, ...]:
        return tuple(int(t) for t in np.flatnonzero(self.anomaly_index > self.threshold))


@functools.lru_cache(maxsize=64)
def familywise_threshold(n_labels: int, alpha: float = 0.05, n_sim: int = 20_000) -> float:
    """The (1 - alpha) quantile of the largest anomaly index among n_labels normal mask norms
    (Monte Carlo with a fixed seed, so the same n always gives the same threshold)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n_sim, n_labels))
    med = np.median(z, axis=1, keepdims=True)
    mad = CONSISTENCY * np.median(np.abs(z - med), axis=1, keepdims=True)
    idx = np.where(z < med, (med - z) / np.maximum(mad, 1e-12), 0.0).max(axis=1)
    return float(np.quantile(idx, 1 - alpha))


def anomaly_index(l1: np.ndarray) -> np.ndarray:
    med = float(np.median(l1))
    mad = CONSISTENCY * float(np.median(np.abs(l1 - med)))
    return np.where(l1 < med, (med - l1) / max(mad, 1e-12), 0.0)  # type: ignore[no-any-return]


def reverse_engineer(
    model: Model,
    x: torch.Tensor,
    target: int,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 0.1,
    init_cost: float = 1e-3,
    success_threshold: float = 0.99,
    patience: int = 3,
    generator: torch.Generator,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Return (mask (H, W), pattern (C, H, W), success) of the smallest mask reaching the threshold
    (or of the last one when none did)."""
    a = torch.zeros(1, 1, *x.shape[-2:], requires_grad=True)
    b = torch.zeros(1, *x.shape[1:], requires_grad=True)
    opt = torch.optim.Adam([a, b], lr=lr, betas=(0.5, 0.9))
    t = torch.full((batch_size,), target, dtype=torch.long)
    cost, up, down = init_cost, 0, 0
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    best_l1 = np.inf
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator)
        hits, seen = 0, 0
        for i in range(0, len(x), batch_size):
            xb = x[perm[i : i + batch_size]]
            m, p = (torch.tanh(a) + 1) / 2, (torch.tanh(b) + 1) / 2
            logits = model((1 - m) * xb + m * p)
            loss = F.cross_entropy(logits, t[: len(xb)]) + cost * m.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            hits += int((logits.argmax(1) == target).sum())
            seen += len(xb)
        acc = hits / seen
        with torch.no_grad():
            m, p = (torch.tanh(a) + 1) / 2, (torch.tanh(b) + 1) / 2
        l1 = float(m.sum())
        if acc >= success_threshold and l1 < best_l1:
            best_l1, best = l1, (m[0, 0].numpy().copy(), p[0].numpy().copy(), acc)
        up, down = (up + 1, 0) if acc >= success_threshold else (0, down + 1)
        if up >= patience:
            cost, up = cost * 1.5, 0
        elif down >= patience:
            cost, down = cost / 1.5**1.5, 0
    if best is None:
        best = (m[0, 0].numpy().copy(), p[0].numpy().copy(), acc)
    return best


def neural_cleanse(
    model: Model,
    x: np.ndarray,
    num_classes: int,
    *,
    labels: list[int] | None = None,
    epochs: int = 20,
    batch_size: int = 32,
    generator: torch.Generator,
) -> NeuralCleanseResult:
    """Reverse-engineer a trigger for every label (or those in `labels`, e.g. the classes a fine-tuned
    head actually serves) from clean images `x` (N, C, H, W) in [0, 1]. Results are indexed by label;
    labels left out get l1 = nan and anomaly index 0. `generator` draws the masks' and patterns' starts
    and the batches."""
    g = generator
    xt = torch.as_tensor(x, dtype=torch.float32)
    todo = list(range(num_classes)) if labels is None else sorted({int(t) for t in labels})
    masks = np.zeros((num_classes, *x.shape[-2:]))
    patterns = np.zeros((num_classes, *x.shape[1:]))
    success, l1 = np.zeros(num_classes), np.full(num_classes, np.nan)
    for t in todo:
        masks[t], patterns[t], success[t] = reverse_engineer(
            model, xt, t, epochs=epochs, batch_size=batch_size, generator=g
        )
        l1[t] = masks[t].sum()
    index = np.zeros(num_classes)
    index[todo] = anomaly_index(l1[todo])
    return NeuralCleanseResult(l1, success, index, masks, patterns)
