"""Which per-sample gradient path a DP-SGD run uses, chosen by measurement on the model and a batch of
the data it trains on (issue 19): Opacus's hooks (per-sample gradients materialised), ghost clipping
(per-sample norms without the gradients: two backward passes), functorch (vmap over the per-example
loss), and the one hand-written path, book-keeping (defenses.dp.bookkeeping: one backward pass; Linear
and Conv2d models only). A path is a candidate only when its clipped, summed gradient equals the hooks'
to 1e-5 at zero noise (one SGD step with lr 1 from the same weights: the update is that gradient); the
fastest candidate over a few timed steps is chosen, so the hand-written path runs only where it is
measured faster than Opacus's and equal to them (issue 19's rule). `make` must build the same weights
each call (seed inside it), so that the updates compare.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mlaudit.defenses.dp.bookkeeping import BookKeeping

MODES = ("hooks", "ghost", "functorch", "bk")  # Opacus's three, and book-keeping (defenses.dp.bookkeeping)
# what Opacus and torch say on every DP run that is not the user's concern: secure_mode off (we seed the
# noise from the audit's generator on purpose), the backward hook on a first layer without input gradients,
# RDP's order grid edge
NOISE = ("Secure RNG turned off", "Full backward hook is firing", "Optimal order is the largest alpha")


@contextmanager
def quiet() -> Iterator[None]:
    """Opacus's and torch's routine warnings of a DP-SGD run (NOISE) silenced; any other warning stays."""
    with warnings.catch_warnings():
        for message in NOISE:
            warnings.filterwarnings("ignore", message=message)
        yield


TOLERANCE = 1e-5


@dataclass(frozen=True)
class StepTiming:
    mode: str  # an Opacus grad_sample_mode, or "non-private"
    seconds: float  # median seconds per step (forward, backward, clipping, noise, update)
    update: dict[str, torch.Tensor]  # the parameter change of one step at zero noise, lr 1


def _private(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mode: str, *, max_grad_norm: float,
             noise: float) -> tuple[nn.Module, torch.optim.Optimizer, Callable[..., torch.Tensor]]:  # fmt: skip
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x))
    out = PrivacyEngine(accountant="rdp").make_private(
        module=model, optimizer=opt, data_loader=loader, noise_multiplier=noise, max_grad_norm=max_grad_norm,
        poisson_sampling=False, grad_sample_mode=mode, criterion=nn.CrossEntropyLoss(),
    )  # fmt: skip
    private, dp_opt, criterion, _ = unpack(out, mode, nn.CrossEntropyLoss())
    return private, dp_opt, criterion


def unpack(out: tuple[Any, ...], mode: str, criterion: Callable[..., torch.Tensor]) -> tuple[Any, Any, Any, Any]:
    """Opacus's make_private* result as (module, optimizer, criterion, loader): ghost clipping returns its
    own criterion (two backward passes), the other modes keep `criterion`."""
    if mode == "ghost":
        private, dp_opt, ghost, loader = out
        return private, dp_opt, ghost, loader
    private, dp_opt, loader = out
    return private, dp_opt, criterion, loader


def time_step(make: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, mode: str, *,
              max_grad_norm: float = 1.0, steps: int = 5) -> StepTiming:  # fmt: skip
    """One step's median time with `mode` (or "non-private": plain SGD) on a fresh model from `make`,
    and the update of its first step at zero noise."""
    model = make().train()
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    criterion: Callable[..., torch.Tensor]
    opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    net, criterion, bk = model, nn.CrossEntropyLoss(), None
    if mode == "bk":
        bk = BookKeeping(model, opt, noise_multiplier=0.0, max_grad_norm=max_grad_norm, expected_batch_size=len(x),
                         generator=torch.Generator(), criterion=nn.CrossEntropyLoss(reduction="sum"))  # fmt: skip
    elif mode != "non-private":
        net, opt, criterion = _private(model, x, y, mode, max_grad_norm=max_grad_norm, noise=0.0)
    times, update = [], {}
    for i in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if bk is not None:
            bk.step(x, y)
        else:
            criterion(net(x), y).backward()
            opt.step()
        if i == 0:
            update = {k: (v.detach() - start[k]) for k, v in model.named_parameters()}
        if i >= 2:
            times.append(time.perf_counter() - t0)
    if mode not in ("non-private", "bk"):
        net._close()  # type: ignore[operator]  # Opacus's hooks off: the model is plain again
    return StepTiming(mode, sorted(times)[len(times) // 2], update)


def choose_mode(make: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, *, max_grad_norm: float = 1.0,
                steps: int = 3) -> tuple[str, dict[str, StepTiming]]:  # fmt: skip
    """The fastest mode whose zero-noise update equals the hooks' to TOLERANCE, with every mode's timing
    (a mode Opacus cannot run on this model is left out)."""
    timings: dict[str, StepTiming] = {}
    for mode in MODES:
        try:
            with quiet():
                timings[mode] = time_step(make, x, y, mode, max_grad_norm=max_grad_norm, steps=steps)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
    ref = timings["hooks"].update
    good = {m: t for m, t in timings.items() if all(torch.allclose(t.update[k], ref[k], atol=TOLERANCE, rtol=0)
                                                     for k in ref)}  # fmt: skip
    return min(good, key=lambda m: good[m].seconds), timings
