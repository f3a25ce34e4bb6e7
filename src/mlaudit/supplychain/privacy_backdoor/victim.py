"""The victim's fine-tuning, which knows nothing of traps: a fresh head, then end-to-end training with
SGD (with or without momentum), Adam, or DP-SGD (defenses.dp, through Opacus). An optional watcher
records which examples activate which first-layer units, for scoring reconstructions only; it never
changes training."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import nn

from mlaudit.defenses.dp.dpsgd import dp_sgd
from mlaudit.models.finetune import FineTune, FineTuneResult, fresh_head, param_groups

__all__ = ["FineTune", "FineTuneResult", "finetune", "fresh_head"]


def finetune(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: FineTune,
    *,
    num_classes: int,
    seed: int,
    watch: tuple[str, tuple[int, ...]] | None = None,
    watch_above: float = 0.0,
) -> FineTuneResult:
    """Fine-tune `model` in place (fresh head first). `watch` = (module name, units) to log activations:
    outputs above `watch_above` (0 for ReLU outputs; about -4 for GELU pre-activations, where an example
    still has a gradient).
    `x` is the model's input: images or features (float), or token ids (integers) for a text model."""
    if cfg.fresh_head:
        fresh_head(model, num_classes, seed=seed)
    # token ids stay integers (a text model's input); everything else is float32
    xt = torch.as_tensor(x, dtype=torch.long if np.issubdtype(np.asarray(x).dtype, np.integer) else torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    log: dict[int, set[int]] = defaultdict(set)
    batch_idx: list[torch.Tensor] = []
    hook = None
    if watch is not None:
        name, units = watch
        layer = dict(model.named_modules())[name]
        units_t = torch.as_tensor(units)

        def record(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            o = out.detach()
            o = o.amax(1) if o.ndim == 3 else o  # transformer FFN: (batch, tokens, units), active at any token
            active = (o[:, units_t] > watch_above).nonzero()
            for row, col in active.tolist():
                log[units[col]].add(int(batch_idx[-1][row]))

        hook = layer.register_forward_hook(record)
    with torch.random.fork_rng():  # dropout (a model that ships it) draws from `seed`, not the global RNG
        torch.manual_seed(seed)
        if cfg.optimizer == "dp-sgd":
            import warnings

            with warnings.catch_warnings():  # Opacus: "secure RNG turned off" and backward-hook notices
                warnings.simplefilter("ignore", UserWarning)
                result = dp_sgd(model, xt, yt, cfg, g, batch_idx)
        else:
            _plain(model, xt, yt, cfg, g, batch_idx)
            result = FineTuneResult(model)
    if hook is not None:
        hook.remove()
    result.activations = dict(log)
    result.model.eval()
    return result


def _plain(
    model: nn.Module,
    xt: torch.Tensor,
    yt: torch.Tensor,
    cfg: FineTune,
    g: torch.Generator,
    batch_idx: list[torch.Tensor],
) -> None:
    params = param_groups(model, cfg)
    opt: torch.optim.Optimizer = (
        torch.optim.Adam(params, lr=cfg.lr)
        if cfg.optimizer == "adam"
        else torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    )
    model.train()
    n = len(xt)
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            batch_idx.append(idx)
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
