"""The one-run audit with input-space canaries (Steinke, Nasr & Jagielski 2023, sec. 6: black-box, the
final model only): m canaries are examples of the population (data the model never trained on) with
a wrong label (the true label shifted by a random nonzero offset: a mislabelled example is what the
model can only fit by memorising it); each joins the training set with probability 1/2, independently;
one DP-SGD run of the recipe trains on the members plus the included canaries; the auditor scores
each canary by the model's log-probability of its wrong label and counts its right guesses among the
k highest (included) and k lowest (excluded) scores (defenses.dp.one_run: the epsilon lower bound).

This audits what the final model reveals about a training example, so its bound is far below the
accountant's epsilon (one run, the weakest threat model); the gradient-canary audit
(defenses.dp.gradient_canary) is the strong one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mlaudit.defenses.dp.one_run import OneRunAudit, one_run_audit
from mlaudit.defenses.dp.train import dp_train
from mlaudit.errors import InputError
from mlaudit.models.train import TrainConfig


def input_canary_audit(
    make_model: Callable[[int], nn.Module], x: np.ndarray, y: np.ndarray, pool_x: np.ndarray, pool_y: np.ndarray,
    config: TrainConfig, *, num_classes: int, epsilon: float, delta: float, canaries: int = 1000,
    guesses: float = 0.1, max_grad_norm: float = 1.0, seed: int = 0, mode: str = "auto", accountant: str = "prv",
) -> tuple[OneRunAudit, float]:  # fmt: skip
    """The one-run audit of the recipe at (epsilon, delta) on (x, y) with `canaries` mislabelled
    population rows (k = guesses * canaries guesses each way); returns it with the accountant's epsilon."""
    if canaries < 10 or canaries > len(pool_x) or not 0 < guesses <= 0.5:
        raise InputError(
            f"input canaries: need 10 <= canaries <= the {len(pool_x)} population rows and 0 < guesses <= 0.5; "
            f"got {canaries} and {guesses}"
        )
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool_x), canaries, replace=False)
    cx = pool_x[pick]
    cy = (pool_y[pick] + rng.integers(1, num_classes, canaries)) % num_classes  # a wrong label each
    included = rng.random(canaries) < 0.5
    tx, ty = np.concatenate([x, cx[included]]), np.concatenate([y, cy[included]])
    result = dp_train(
        make_model(seed), tx, ty, config, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
        generator=torch.Generator().manual_seed(seed), mode=mode, accountant=accountant,
    )  # fmt: skip
    with torch.no_grad():
        logp = torch.log_softmax(result.model(torch.as_tensor(cx, dtype=torch.float32)), 1)
    scores = logp[torch.arange(canaries), torch.as_tensor(cy)].double().numpy()
    k = max(1, int(guesses * canaries))
    return one_run_audit(scores, included, k_pos=k, k_neg=k, delta=delta), result.epsilon
