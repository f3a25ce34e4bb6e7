"""The victim's fine-tuning, which knows nothing of traps: a fresh head, then end-to-end training with
SGD (with or without momentum), Adam, or DP-SGD (Opacus). An optional watcher records which examples
activate which first-layer units, for scoring reconstructions only; it never changes training."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class FineTune:
    optimizer: str = "sgd"  # sgd | adam | dp-sgd
    lr: float = 0.05
    head_lr: float | None = None  # the fresh head's own learning rate (None: lr), as in the paper's recipe
    momentum: float = 0.0
    epochs: int = 2
    batch_size: int = 32
    # DP-SGD (Opacus): noise multiplier and per-example clipping norm
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    fresh_head: bool = True  # False: fine-tune the shipped classifier head (same label set)


@dataclass
class FineTuneResult:
    model: nn.Module
    activations: dict[int, set[int]] = field(default_factory=dict)  # unit -> indices of activating examples
    epsilon: float | None = None


def fresh_head(model: nn.Module, num_classes: int, *, seed: int) -> None:
    """Replace model.head by a freshly initialised linear layer (PyTorch's default init, seeded)."""
    old = model.head
    assert isinstance(old, nn.Linear)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model.head = nn.Linear(old.in_features, num_classes)


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
                result = _dp_sgd(model, xt, yt, cfg, g, batch_idx)
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
    params = _param_groups(model, cfg)
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


def _param_groups(model: nn.Module, cfg: FineTune) -> list[dict[str, object]]:
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    return [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr if cfg.head_lr is not None else cfg.lr}]


def _dp_sgd(
    model: nn.Module,
    xt: torch.Tensor,
    yt: torch.Tensor,
    cfg: FineTune,
    g: torch.Generator,
    batch_idx: list[torch.Tensor],
) -> FineTuneResult:
    """DP-SGD with Poisson sampling and per-example clipping (Opacus), accounted with RDP."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    model.train()  # Opacus validates the module in training mode
    idx_all = torch.arange(len(xt))
    loader = DataLoader(TensorDataset(xt, yt, idx_all), batch_size=cfg.batch_size, generator=g)
    opt = torch.optim.SGD(_param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum)  # type: ignore[arg-type]
    engine = PrivacyEngine(accountant="rdp", secure_mode=False)
    private, opt, loader = engine.make_private(
        module=model,
        optimizer=opt,
        data_loader=loader,
        noise_multiplier=cfg.noise_multiplier,
        max_grad_norm=cfg.max_grad_norm,
        poisson_sampling=True,
        noise_generator=torch.Generator().manual_seed(int(g.initial_seed()) + 1),
    )
    private.train()
    for _ in range(cfg.epochs):
        for xb, yb, ib in loader:
            batch_idx.append(ib)
            opt.zero_grad(set_to_none=True)
            if len(xb):
                nn.functional.cross_entropy(private(xb), yb).backward()
            opt.step()
    epsilon = engine.get_epsilon(delta=1e-5)
    private._close()  # remove Opacus's hooks and per-sample buffers: hand back a plain module
    return FineTuneResult(model, epsilon=epsilon)
