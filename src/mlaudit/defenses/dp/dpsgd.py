"""DP-SGD (Abadi et al. 2016): Poisson sampling, per-example clipping and Gaussian noise through Opacus,
accounted with its RDP accountant. The training loop only; the audits that measure it are in
defenses.dp.audit (the estimator) and supplychain.privacy_backdoor.dp_audit (a trapped canary)."""

from __future__ import annotations

import torch
from torch import nn

from mlaudit.models.finetune import FineTune, FineTuneResult, param_groups


def dp_sgd(
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
    opt = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum)  # type: ignore[arg-type]
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
