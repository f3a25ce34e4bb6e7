"""Train many small MLPs at once as one stacked model (batched matmuls), for reference / shadow models.

Member k is initialised from `models[k]` and trained on `subsets[k]` with its own shuffling generator,
exactly as `train` would train it alone (same batches, same Adam arithmetic: Adam is elementwise, so
one optimiser over stacked parameters is K independent optimisers); only the matmuls are batched.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mlaudit.models.mlp import MLP
from mlaudit.models.train import TrainConfig


def _linears(m: MLP) -> list[nn.Linear]:
    return [layer for layer in m.features if isinstance(layer, nn.Linear)] + [m.head]


def stackable(models: list[MLP], config: TrainConfig) -> bool:
    """Whether one stacked run reproduces training each model alone: mlaudit's loop (not the user's fit),
    no augmentation (drawn per model) and every parameter trains (the stacked run trains them all)."""
    return config.fit is None and not config.augment and all(p.requires_grad for m in models for p in m.parameters())


def train_ensemble(
    models: list[MLP],
    subsets: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    seeds: list[int],
    progress: Callable[[int, int], None] | None = None,
) -> list[MLP]:
    """Train `models[k]` on `x[subsets[k]]` for every k in one stacked run; returns them in eval mode."""
    k = len(models)
    if not (len(subsets) == len(seeds) == k) or len({len(s) for s in subsets}) != 1:
        raise ValueError("need one subset and one seed per model, all subsets of one size")
    if not stackable(models, config):
        raise ValueError("augmented or partly frozen training runs model by model (models.train), not stacked")
    layers = [_linears(m) for m in models]
    # weights stacked as (K, in, out): contiguous operands for the batched matmul
    ws = [
        torch.stack([ls[j].weight.detach().T for ls in layers]).contiguous().requires_grad_()
        for j in range(len(layers[0]))
    ]
    bs = [torch.stack([ls[j].bias.detach() for ls in layers]).clone().requires_grad_() for j in range(len(layers[0]))]
    params = ws + bs
    # every optimizer and schedule here acts elementwise with one rate per step: the stacked run trains each
    # member exactly as models.train would alone
    opt = config.make_optimizer(params)
    schedule = config.make_schedule(opt)
    xt = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)
    yt = torch.as_tensor(y, dtype=torch.long)
    idx = torch.as_tensor(np.stack(subsets), dtype=torch.long)  # (K, n)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    n = idx.shape[1]
    total, done = config.epochs * ((n + config.batch_size - 1) // config.batch_size), 0
    for _ in range(config.epochs):
        perm = torch.stack([idx[i][torch.randperm(n, generator=gens[i])] for i in range(k)])  # (K, n)
        for start in range(0, n, config.batch_size):
            batch = perm[:, start : start + config.batch_size]  # (K, b)
            h = xt[batch]  # (K, b, D)
            for j, (w, b) in enumerate(zip(ws, bs, strict=True)):
                h = torch.baddbmm(b.unsqueeze(1), h, w)  # (K, b, out_j)
                if j < len(ws) - 1:
                    h = torch.relu(h)
            # sum over members of each member's mean loss: the members' gradients stay independent
            logits, labels = h.reshape(-1, h.shape[-1]), yt[batch].reshape(-1)
            loss = nn.functional.cross_entropy(logits, labels, label_smoothing=config.label_smoothing) * k
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if progress is not None:
                progress(done, total)
        if schedule is not None:
            schedule.step()
    with torch.no_grad():
        for i, ls in enumerate(layers):
            for j, lin in enumerate(ls):
                lin.weight.copy_(ws[j][i].T)
                lin.bias.copy_(bs[j][i])
    return [m.eval() for m in models]


@torch.no_grad()
def stacked_logits(models: list[MLP], x: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """Logits of every model on every input: (K, N, C)."""
    xt = torch.as_tensor(x, dtype=torch.float32)
    return np.stack(
        [torch.cat([m(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)]).numpy() for m in models]
    )
