"""PGD speed: mlaudit, torchattacks and ART on the same small CNN and inputs, against the floor.

The floor is k forward+backward passes (gradient with respect to the input) at the same batch size,
measured in the same process; every time is printed as a ratio to it, which survives a noisy host.
Setup (shared/research/perf-anchors.md, benchmark 1): mlaudit's CNN on 256 images of 3x32x32, Linf
eps 8/255, step 2/255, k = 10, no random start, 2 threads; warm-up, then `--repeat` interleaved rounds,
min and median. Correctness: mlaudit's adversarial examples equal a hand-written PGD loop's to 1e-6.
Ends with pgd_ratio_to_floor=X (mlaudit, min over rounds; the goal is X <= 1.10).

Usage: python benchmarks/pgd.py [--repeat 7] [--n 256] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion import pgd
from mlaudit.models import CNN

EPS, ALPHA = 8 / 255, 2 / 255


def floor(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    for _ in range(k):
        xa = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
    return g


def hand_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """The textbook loop (Madry et al. 2018) written out, the correctness reference."""
    xa = x.clone()
    for _ in range(k):
        xa.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
        xa = xa.detach() + ALPHA * g.sign()
        xa = torch.clamp(x + torch.clamp(xa - x, -EPS, EPS), 0, 1)
    return xa


def contenders(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> dict[str, Callable[[], object]]:
    import torchattacks
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    ta = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=k, random_start=False)
    est = PyTorchClassifier(
        model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]), nb_classes=10, clip_values=(0.0, 1.0)
    )
    art = ProjectedGradientDescentPyTorch(
        est, norm=np.inf, eps=EPS, eps_step=ALPHA, max_iter=k, num_random_init=0, batch_size=len(x), verbose=False
    )
    xn, yn = x.numpy(), y.numpy()
    return {
        "floor": lambda: floor(model, x, y, k),
        "hand-written": lambda: hand_pgd(model, x, y, k),
        "mlaudit": lambda: pgd(model, x, y, eps=EPS, steps=k, step_size=ALPHA, random_init=False),
        "torchattacks": lambda: ta(x, y),
        "art": lambda: art.generate(xn, yn),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = CNN(in_channels=3, num_classes=10, image_size=32).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.n, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (a.n,), generator=g)
    runs = contenders(model, x, y, a.steps)

    ours, ref = runs["mlaudit"](), hand_pgd(model, x, y, a.steps)
    diff = float((ours - ref).abs().max())  # type: ignore[operator]
    ta_diff = float((runs["torchattacks"]() - ref).abs().max())  # type: ignore[operator]
    print(f"max |mlaudit - hand-written| = {diff:.2e} (torchattacks: {ta_diff:.2e})")
    assert diff <= 1e-6, "mlaudit's PGD differs from the hand-written loop"

    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(a.repeat):
        for name, fn in runs.items():  # interleaved: a slow spell of the host hits every contender
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = min(times["floor"])
    print(f"\nN={a.n} 3x32x32, k={a.steps}, Linf eps=8/255; floor k*(fwd+bwd) = {base * 1e3:.1f} ms (min)")
    print(f"{'':14s}{'min ms':>9s}{'median ms':>11s}{'ratio':>8s}{'spread':>8s}")
    for name, ts in times.items():
        print(
            f"{name:14s}{min(ts) * 1e3:9.1f}{statistics.median(ts) * 1e3:11.1f}"
            f"{min(ts) / base:8.2f}{max(ts) / min(ts):8.2f}"
        )
    print(f"pgd_ratio_to_floor={min(times['mlaudit']) / base:.3f}")


if __name__ == "__main__":
    main()
