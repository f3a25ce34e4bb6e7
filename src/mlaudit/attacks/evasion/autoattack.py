"""A standard robustness evaluation in the spirit of AutoAttack (Croce & Hein 2020, arXiv 2003.01690).

APGD-CE, then targeted APGD-DLR (APGD-T, one run per top-scoring wrong class), then Square on the
scores, each run only on the examples every earlier attack failed to break. Robust accuracy is the
share that survives all three: a worst case over attacks of different kinds, so a defence that only
masks gradients is caught by the score-based Square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlaudit.attacks.evasion.apgd import apgd
from mlaudit.attacks.evasion.base import Bounds, Model, check
from mlaudit.attacks.evasion.square import square


@dataclass(frozen=True)
class StandardEvaluation:
    x_adv: torch.Tensor
    clean_correct: np.ndarray  # (N,) bool
    robust: np.ndarray  # (N,) bool: correct on clean input and on every attack
    broken_by: tuple[str, ...]  # per example: "clean", "apgd-ce", "apgd-t", "square" or "" (robust)

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean())

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.mean())

    def broken_counts(self) -> dict[str, int]:
        return {k: self.broken_by.count(k) for k in ("clean", "apgd-ce", "apgd-t", "square")}


@torch.no_grad()
def _pred(model: Model, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


def standard_evaluation(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 100,
    n_target_classes: int = 9,
    square_queries: int = 5000,
    bounds: Bounds = (0.0, 1.0),
    generator: torch.Generator,
    rng: np.random.Generator,
) -> StandardEvaluation:
    """`generator` draws APGD's random starts, `rng` Square's proposals."""
    check(x, y, eps, "linf", bounds)
    g = generator
    xa = x.clone()
    broken = np.array(["" for _ in range(len(x))], dtype=object)
    ok = (_pred(model, x) == y).numpy()
    broken[~ok] = "clean"

    def run(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        idx = np.flatnonzero(broken == "")
        if idx.size == 0:
            return
        cand = fn(idx)
        fooled = (_pred(model, cand) != y[idx]).numpy()
        xa[idx[fooled]] = cand[fooled]
        broken[idx[fooled]] = name

    run("apgd-ce", lambda i: apgd(model, x[i], y[i], eps=eps, steps=steps, bounds=bounds, generator=g))
    with torch.no_grad():
        order = model(x).argsort(1, descending=True)
    for k in range(1, 1 + min(n_target_classes, order.shape[1] - 1)):
        run(
            "apgd-t",
            lambda i, k=k: apgd(
                model,
                x[i],
                y[i],
                eps=eps,
                steps=steps,
                loss="dlr",
                target_labels=order[i, k],
                bounds=bounds,
                generator=g,
            ),
        )
    if x.dim() == 4 and square_queries > 0:

        def scores(z: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.as_tensor(z, dtype=torch.float32)).numpy()

        run(
            "square",
            lambda i: torch.as_tensor(
                square(scores, x[i].numpy(), y[i].numpy(), eps=eps, n_queries=square_queries, bounds=bounds, rng=rng)[
                    0
                ],
                dtype=torch.float32,
            ),
        )
    return StandardEvaluation(xa, ok, broken == "", tuple(str(b) for b in broken))
