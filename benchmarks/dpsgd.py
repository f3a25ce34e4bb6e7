"""One DP-SGD step (forward, backward, per-sample clipping, noise, update) timed with mlaudit's chosen
per-sample gradient path (defenses.dp.paths.choose_mode, among Opacus's hooks, ghost clipping and
functorch and mlaudit's book-keeping clipping, each checked equal to the hooks' clipped gradient to 1e-5
at zero noise), Opacus hooks, Opacus ghost clipping and a non-private step, all in one run, on a small
CNN (mlaudit's, 28x28, batch 256) and a wide MLP (600-1024-100, batch 256). Prints each mode's median
seconds per step and its ratio to the non-private step; ends with `dp_step_ratio_cnn=X
dp_step_ratio_mlp=Y` (the chosen path's ratios; issue 19's goals X <= 1.3, Y <= 3).

Usage: python benchmarks/dpsgd.py [--steps 5]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from mlaudit.defenses.dp.paths import MODES, choose_mode, time_step
from mlaudit.models.cnn import CNN


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return CNN(in_channels=1, num_classes=10, width=16)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(600, 1024), nn.ReLU(), nn.Linear(1024, 100))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    cases = {
        "cnn": (cnn, torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)),
        "mlp": (mlp, torch.randn(256, 600, generator=g), torch.randint(0, 100, (256,), generator=g)),
    }
    ratios = {}
    for name, (make, x, y) in cases.items():
        base = time_step(make, x, y, "non-private", steps=args.steps).seconds
        chosen, timings = choose_mode(make, x, y, steps=args.steps)
        print(f"{name}: non-private {base * 1e3:.1f} ms/step")
        for mode in MODES:
            t = timings.get(mode)
            note = "" if t is not None else " (Opacus cannot run it on this model)"
            line = f"{t.seconds * 1e3:.1f} ms/step, {t.seconds / base:.2f}x" if t is not None else "-"
            print(f"  {mode:10s} {line}{' <- chosen' if mode == chosen else ''}{note}")
        ratios[name] = timings[chosen].seconds / base
    print(f"dp_step_ratio_cnn={ratios['cnn']:.2f} dp_step_ratio_mlp={ratios['mlp']:.2f}")


if __name__ == "__main__":
    main()
