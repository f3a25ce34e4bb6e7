"""The multi-run audit of DP-SGD with Dirac gradient canaries (Nasr et al. 2021, "Adversary
instantiation", and Nasr et al. 2023, "Tight auditing of differentially private machine learning"):
the strongest adversary the accountant's epsilon covers, who inserts gradients and sees every noisy
gradient the training releases (every intermediate model).

Each run trains the model with the recipe under DP-SGD (defenses.dp.train, through Opacus). K canaries
are coordinates of the trainable parameters, drawn at random; each is present in the run with
probability 1/2, independently. A present canary is Poisson-sampled at every step like any training
example (rate q, Opacus's sample rate), and when sampled contributes a per-example gradient of norm
exactly C (the clipping norm) on its own coordinate: the Dirac canary. Opacus then adds its
N(0, sigma^2 C^2) noise to the sum. The auditor trains the model, so it knows its data's clipped
gradient sum at every step and subtracts it: what is left on canary k's coordinate at step t is
o_t = C * b_t + noise (b_t: the canary was sampled), the release a canary's presence changes.

The statistic is the log likelihood ratio of the present and absent hypotheses over the T steps,
sum_t log(1 - q + q exp((2 o_t / C - 1) / (2 sigma^2))): the test the accountant's epsilon bounds. Canaries
on distinct coordinates are independent trials (independent noise coordinates and inclusion draws, the
data's part subtracted), so the present and absent canaries of every run are the two samples of the
Clopper-Pearson estimator (defenses.dp.audit.epsilon_lower_bound): an epsilon lower bound at 1 - alpha.

What it measures: whether the DP-SGD implementation's clipping, sampling and noise match the epsilon
its accountant claims (a bound above the claim would prove the claim wrong). It does not measure how
much an adversary learns from the final model alone; the input-space audits (one_run, the membership
attacks on DP fine-tunes) do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.defenses.dp.audit import epsilon_lower_bound
from mlaudit.defenses.dp.one_run import one_run_audit
from mlaudit.defenses.dp.train import dp_train
from mlaudit.errors import InputError
from mlaudit.models.train import TrainConfig


@dataclass(frozen=True)
class GradientCanaryAudit:
    """The audited epsilon lower bound beside the accountant's epsilon of the same runs."""

    epsilon_lower: float  # at confidence 1 - alpha
    epsilon_accountant: float  # what Opacus's accountant says each run spent
    delta: float
    alpha: float
    runs: int
    canaries: int  # per run
    present: int  # canaries present, over all runs (the "with" trials)
    absent: int
    noise_multiplier: float
    sample_rate: float
    steps: int  # noisy steps per run
    epsilon_one_run: float  # the first run's canaries alone, through the one-run audit (defenses.dp.one_run)


class DiracCanaries:
    """K gradient canaries on random coordinates of the optimizer's parameters; `attach` wraps a DP
    optimizer's add_noise to insert them and score their release (see the module doc)."""

    def __init__(self, count: int, generator: torch.Generator) -> None:
        self.count, self.generator = count, generator
        self.present = torch.rand(count, generator=generator) < 0.5
        self.llr = torch.zeros(count, dtype=torch.float64)
        self.steps = 0
        self.sample_rate = self.noise_multiplier = float("nan")

    def attach(self, optimizer: Any, sample_rate: float) -> None:
        params = list(optimizer.params)
        sizes = [p.numel() for p in params]
        if self.count > sum(sizes):
            raise InputError(f"{self.count} gradient canaries need as many trainable weights, not {sum(sizes)}")
        flat = torch.randperm(sum(sizes), generator=self.generator)[: self.count]
        starts = torch.tensor([0, *np.cumsum(sizes)[:-1].tolist()])
        owner = torch.searchsorted(starts, flat, right=True) - 1
        where = [(i, flat[owner == i] - starts[i], torch.nonzero(owner == i).flatten()) for i in range(len(params))]
        where = [w for w in where if len(w[1])]
        self.sample_rate, self.noise_multiplier = float(sample_rate), float(optimizer.noise_multiplier)
        c, noise = float(optimizer.max_grad_norm), optimizer.add_noise

        def add_noise() -> None:  # the data's clipped sum is in summed_grad; insert, noise, read back
            sampled = self.present & (torch.rand(self.count, generator=self.generator) < self.sample_rate)
            before = []
            for i, offsets, ks in where:
                s = params[i].summed_grad.view(-1)
                before.append(s[offsets].clone())
                s[offsets] += c * sampled[ks].to(s.dtype)
            noise()
            released = torch.empty(self.count, dtype=torch.float64)
            for (i, offsets, ks), b in zip(where, before, strict=True):
                released[ks] = ((params[i].grad.view(-1)[offsets] - b) / c).double()
            self._score(released)

        optimizer.add_noise = add_noise

    def _score(self, o: torch.Tensor) -> None:
        q, s2 = self.sample_rate, self.noise_multiplier**2
        self.llr += torch.logaddexp(torch.full_like(o, math.log1p(-q)), math.log(q) + (2 * o - 1) / (2 * s2))
        self.steps += 1


def gradient_canary_audit(
    make_model: Callable[[int], nn.Module], x: np.ndarray, y: np.ndarray, config: TrainConfig, *, epsilon: float,
    delta: float, max_grad_norm: float = 1.0, runs: int = 2, canaries: int = 50_000, seed: int = 0,
    mode: str = "auto", alpha: float = 0.05, accountant: str = "prv",
) -> GradientCanaryAudit:  # fmt: skip
    """`runs` DP-SGD trainings of `make_model(seed)` on (x, y) with the recipe at (epsilon, delta), each
    with `canaries` Dirac gradient canaries; the epsilon lower bound from all of them."""
    if runs < 1 or canaries < 4:
        raise InputError(f"the gradient-canary audit needs at least 1 run and 4 canaries, got {runs} and {canaries}")
    weights = sum(p.numel() for p in make_model(seed).parameters() if p.requires_grad)
    if canaries > weights:  # each canary has a coordinate of its own
        raise InputError(f"{canaries} gradient canaries need as many trainable weights; the model has {weights}")
    s0, s1, spent = [], [], []
    for r in range(runs):
        g = torch.Generator().manual_seed(seed * 7919 + r)
        marks = DiracCanaries(canaries, torch.Generator().manual_seed(seed * 7919 + 1000 + r))
        result = dp_train(
            make_model(seed * 7919 + r), x, y, config, epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
            generator=g, mode=mode, accountant=accountant, attach=marks.attach,
        )  # fmt: skip
        spent.append(result.epsilon)
        s1.append(marks.llr[marks.present].numpy())
        s0.append(marks.llr[~marks.present].numpy())
        if r == 0:  # Steinke et al.'s one-run audit of the same canaries: k = 5% of them guessed each way
            k = max(1, canaries // 20)
            llr, present = marks.llr.numpy(), marks.present.numpy()
            one = one_run_audit(llr, present, k_pos=k, k_neg=k, delta=delta, alpha=alpha).epsilon
    a0, a1 = np.concatenate(s0), np.concatenate(s1)
    bound = epsilon_lower_bound(a0, a1, delta=delta, alpha=alpha)
    return GradientCanaryAudit(
        bound, max(spent), delta, alpha, runs, canaries, len(a1), len(a0), marks.noise_multiplier,
        marks.sample_rate, marks.steps, one,
    )  # fmt: skip
