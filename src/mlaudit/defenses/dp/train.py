"""DP-SGD with the user's recipe (issue 19): the recipe's optimizer (Adam, AdamW or SGD with its
momentum and weight decay), learning rate and schedule, epochs, batch size (the expected size of a
Poisson-sampled batch), label smoothing and augmentation, on the parameters that train; made private
by Opacus (`make_private_with_epsilon`: per-sample clipping to `max_grad_norm`, Gaussian noise set for
the target epsilon at `delta` by its accountant, Poisson sampling). The per-sample gradient path is
chosen by measurement (defenses.dp.paths) unless named."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.defenses.dp.bookkeeping import BookKeeping
from mlaudit.defenses.dp.paths import MODES, choose_mode, quiet, unpack
from mlaudit.errors import InputError
from mlaudit.models.train import TrainConfig, augment_batch


@dataclass
class DPResult:
    model: nn.Module
    epsilon: float  # what the accountant says was spent, at `delta`
    delta: float
    noise_multiplier: float
    mode: str  # the per-sample gradient path used


def dp_train(model: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig, *, epsilon: float,
             delta: float, max_grad_norm: float = 1.0, generator: torch.Generator, mode: str = "auto",
             accountant: str = "rdp", attach: Callable[[Any, float], None] | None = None) -> DPResult:  # fmt: skip
    """Train `model` in place with DP-SGD under `config`; returns it in eval mode with the spent epsilon.
    `attach(optimizer, sample_rate)` is called with Opacus's DP optimizer before the first step (the
    gradient-canary audit inserts its canaries there)."""
    with quiet():
        return _dp_train(model, x, y, config, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
                         generator=generator, mode=mode, accountant=accountant, attach=attach)  # fmt: skip


def _dp_train(model: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig, *, epsilon: float,
              delta: float, max_grad_norm: float, generator: torch.Generator, mode: str, accountant: str,
              attach: Callable[[Any, float], None] | None) -> DPResult:  # fmt: skip
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    if config.fit is not None:
        raise InputError("DP-SGD trains with mlaudit's loop: a recipe with the user's own fit cannot be made private")
    if not (epsilon > 0 and 0 < delta < 1 / len(x)):
        bound = f"{1 / len(x):.2g}"
        raise InputError(f"epsilon {epsilon} and delta {delta}: need epsilon > 0 and 0 < delta < 1/n = {bound}")
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    if mode == "auto":
        probe = slice(0, min(len(xt), config.batch_size))
        mode, _ = choose_mode(lambda: copy.deepcopy(model), xt[probe], yt[probe], max_grad_norm=max_grad_norm, steps=2)
    elif mode not in MODES:
        raise InputError(f"unknown per-sample gradient path {mode!r}; use auto or one of {', '.join(MODES)}")
    model.train()
    opt = config.make_optimizer([p for p in model.parameters() if p.requires_grad])
    loader = DataLoader(TensorDataset(xt, yt), batch_size=config.batch_size, generator=generator)
    if mode == "bk":
        step, poisson = _bk_steps(model, opt, loader, config, epsilon, delta, max_grad_norm, generator, accountant)
        return _run_bk(step, poisson, delta, config=config, generator=generator, attach=attach)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    engine = PrivacyEngine(accountant=accountant)
    out = engine.make_private_with_epsilon(
        module=model, optimizer=opt, data_loader=loader, target_epsilon=epsilon, target_delta=delta,
        epochs=config.epochs, max_grad_norm=max_grad_norm, grad_sample_mode=mode, criterion=criterion,
        noise_generator=_noise_generator(generator),
    )  # fmt: skip
    private, dp_opt, crit, loader = unpack(out, mode, criterion)
    if attach is not None:
        attach(dp_opt, float(loader.sample_rate))
    schedule = config.make_schedule(dp_opt.original_optimizer)
    for _ in range(config.epochs):
        for xb, yb in loader:
            if not len(xb):
                continue
            xb = augment_batch(xb, config.augment, generator) if config.augment else xb
            dp_opt.zero_grad(set_to_none=True)
            crit(private(xb), yb).backward()
            dp_opt.step()
        if schedule is not None:
            schedule.step()
    spent = float(engine.get_epsilon(delta=delta))
    private._close()  # Opacus's hooks off: a plain module again
    return DPResult(model.eval(), spent, delta, float(dp_opt.noise_multiplier), mode)


def _bk_steps(model: nn.Module, opt: torch.optim.Optimizer, base: Any, config: TrainConfig, epsilon: float,
              delta: float, max_grad_norm: float, generator: torch.Generator,
              accountant: str) -> tuple[BookKeeping, Any]:  # fmt: skip
    """The book-keeping path's DP step, Poisson loader and noise, set as Opacus's make_private_with_epsilon
    sets them: sample rate 1 / batches per epoch, the noise multiplier its accountant finds for the epochs,
    the expected batch size int(n q), the noise drawn from a generator seeded from `generator`."""
    from opacus.accountants import create_accountant
    from opacus.accountants.utils import get_noise_multiplier
    from opacus.data_loader import DPDataLoader

    q = 1 / len(base)
    sigma = get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=q, epochs=config.epochs,
                                 accountant=accountant, epsilon_tolerance=0.01)  # fmt: skip
    noise = _noise_generator(generator)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="sum")
    acc = create_accountant(accountant)
    step = BookKeeping(model, opt, noise_multiplier=float(sigma), max_grad_norm=max_grad_norm,
                       expected_batch_size=int(len(base.dataset) * q), generator=noise, criterion=criterion,
                       accountant=acc, sample_rate=q)  # fmt: skip
    return step, DPDataLoader.from_data_loader(base, generator=generator)


def _noise_generator(generator: torch.Generator) -> torch.Generator:
    """The DP noise's own generator, seeded from `generator` (one draw), for either path."""
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))


def _run_bk(step: BookKeeping, loader: Any, delta: float, *, config: TrainConfig, generator: torch.Generator,
            attach: Callable[[Any, float], None] | None) -> DPResult:  # fmt: skip
    if attach is not None:
        attach(step, step.sample_rate)
    schedule = config.make_schedule(step.original_optimizer)
    for _ in range(config.epochs):
        for xb, yb in loader:
            xb = augment_batch(xb, config.augment, generator) if config.augment and len(xb) else xb
            step.original_optimizer.zero_grad(set_to_none=True)
            step.step(xb, yb)
        if schedule is not None:
            schedule.step()
    spent = float(step.accountant.get_epsilon(delta=delta))
    return DPResult(step.model.eval(), spent, delta, step.noise_multiplier, "bk")


@dataclass(frozen=True)
class DPFit:
    """The recipe made private, as a TrainConfig.fit: the defended target and its reference models all
    train through it (a plain value, so it crosses process boundaries with the training task)."""

    config: TrainConfig
    epsilon: float
    delta: float
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    mode: str = "auto"

    def __call__(self, model: nn.Module, x: np.ndarray, y: np.ndarray, *, seed: int) -> nn.Module:
        result = dp_train(
            model, x, y, self.config, epsilon=self.epsilon, delta=self.delta, max_grad_norm=self.max_grad_norm,
            generator=torch.Generator().manual_seed(seed), mode=self.mode, accountant=self.accountant,
        )  # fmt: skip
        return result.model
