"""LiRA's variance estimators with 8 references, over many target models: pooled, moderated (empirical
Bayes, the default) and one global variance, on users' Fashion-MNIST CNNs of three widths.

Many models train at once (torch.func.vmap over stacked weights, one Adam over the stack: Adam is
elementwise, so each model's update is its own): `--pairs` complementary pairs of models on halves of
5,000 candidates, and 4 population models for offline LiRA. Each of the 2 x pairs models is a target
in turn, scored against 8 models from 4 other pairs (every candidate IN for exactly 4 of them), and
against 16 from 8. Recipe: Adam 1e-3, cosine, 30 epochs, batch 16, from scratch (benchmarks/own_model.py's).
Needs a GPU to run in minutes (2026-12-01 on an H200: 28 models of width 32 in 18 s); on a CPU the
vmapped convolutions take hours.

Prints, per width, mean and minimum TPR at 1% FPR over the targets, and ends with
`lira_moderated_over_pooled=R` (the mean over widths of moderated / pooled at 8 references).

Usage: python benchmarks/lira_variance.py [--pairs 12] [--widths 16,32,64]
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from mlaudit import metrics as M
from mlaudit.attacks.membership.lira import lira_offline, lira_online
from mlaudit.attacks.membership.signals import logit_confidence, softmax
from mlaudit.data import load_builtin
from mlaudit.models import CNN, TrainConfig

# benchmarks/own_model.py's recipe; the networks are mlaudit's CNN (own_model_net.py's shape at width 32)
RECIPE = TrainConfig(epochs=30, batch_size=16, lr=1e-3, optimizer="adam", schedule="cosine")


def train_many(width: int, x: torch.Tensor, y: torch.Tensor, subsets: np.ndarray, seed: int) -> np.ndarray:
    """Models trained at once, model i on rows subsets[i] -> logits of every row, (M, N, 10) float64."""
    dev = x.device
    models = []
    for i in range(len(subsets)):
        torch.manual_seed(seed * 1000 + i)
        models.append(CNN(width=width).to(dev))
    params, bufs = stack_module_state(models)  # type: ignore[arg-type]
    base = copy.deepcopy(models[0]).to("meta")

    def f(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    # torch's default Adam, as the docstring's figures were measured (RECIPE.make_optimizer runs the fused one)
    opt = torch.optim.Adam(list(params.values()), lr=RECIPE.lr)
    sched = RECIPE.make_schedule(opt)
    assert sched is not None
    rows = torch.as_tensor(subsets, device=dev)
    m, n = rows.shape
    g = torch.Generator(device=dev).manual_seed(seed)
    for _ in range(RECIPE.epochs):
        order = torch.gather(rows, 1, torch.argsort(torch.rand(m, n, generator=g, device=dev), dim=1))
        for i in range(0, n, RECIPE.batch_size):
            idx = order[:, i : i + RECIPE.batch_size]
            out = vmap(f)(params, bufs, x[idx])
            loss = nn.functional.cross_entropy(out.reshape(-1, 10), y[idx].reshape(-1), reduction="none")
            opt.zero_grad(set_to_none=True)
            loss.view(m, -1).mean(1).sum().backward()
            opt.step()
        sched.step()
    with torch.no_grad():
        outs = [vmap(f, in_dims=(0, 0, None))(params, bufs, x[i : i + 2500]) for i in range(0, len(x), 2500)]
    return torch.cat(outs, 1).double().cpu().numpy()  # type: ignore[no-any-return]


def tpr1(scores: np.ndarray, members: np.ndarray) -> float:
    return M.tpr_at_fpr(scores[members], scores[~members], 0.01).value


def width_row(width: int, x: torch.Tensor, y: np.ndarray, pairs: int, rng: np.random.Generator) -> dict[str, list]:
    subsets, keep = [], []
    for _ in range(pairs):
        perm = rng.permutation(5000)
        for half in (np.sort(perm[:2500]), np.sort(perm[2500:])):
            subsets.append(half)
            keep.append(np.isin(np.arange(5000), half))
    subsets += [np.sort(5000 + rng.permutation(5000)[:2500]) for _ in range(4)]
    logits = train_many(width, x, torch.as_tensor(y, device=x.device).long(), np.stack(subsets), seed=width)
    phi = logit_confidence(softmax(logits[:, :5000]), y[:5000])
    kp = np.stack(keep)
    out: dict[str, list] = {}
    for ti in range(2 * pairs):
        for k in (8, 16):
            others = [(ti // 2 + 1 + j) % pairs for j in range(k // 2)]
            refs = [2 * q for q in others] + [2 * q + 1 for q in others]
            for variance in ("pooled", "moderated", "global"):
                s = lira_online(phi[ti], phi[refs], kp[refs], variance=variance)
                out.setdefault(f"{variance} {k}", []).append(tpr1(s, kp[ti]))
        off = phi[2 * pairs :]
        out.setdefault("offline 4 (global)", []).append(tpr1(lira_offline(phi[ti], off, variance="global"), kp[ti]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--widths", default="16,32,64")
    a = ap.parse_args()
    if a.pairs < 9:
        ap.error("--pairs must be at least 9 (a target and 8 other pairs for 16 references)")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    d = load_builtin("fashion-mnist")
    rows = np.random.default_rng(0).permutation(len(d))[:10_000]  # 5,000 candidates, 5,000 population
    x = torch.as_tensor(d.x[rows], device=dev)
    ratios = []
    for w in (int(v) for v in a.widths.split(",")):
        r = width_row(w, x, d.y[rows], a.pairs, np.random.default_rng(0))
        print(f"width {w}: " + "  ".join(f"{k} {np.mean(v):.2%} (min {np.min(v):.2%})" for k, v in r.items()))
        ratios.append(np.mean(r["moderated 8"]) / np.mean(r["pooled 8"]))
    print(f"lira_moderated_over_pooled={np.mean(ratios):.3f}")


if __name__ == "__main__":
    main()
