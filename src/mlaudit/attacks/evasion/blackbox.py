"""Evasion of a black box (an API, an ONNX file, any model whose weights the adversary does not hold):
Square on its scores (Andriushchenko et al. 2020, arXiv 1912.00049), HopSkipJump on its labels
(Chen et al. 2020, arXiv 1904.02144) and transfer from what the adversary holds (a surrogate trained
with the recipe, the public base's features; Papernot et al. 2016). Every query goes through the
adversary's view of the target, counted and within the threat model's budget: this suite needs no
weights, so unlike the "evasion" suite it runs on models served as outputs only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.evasion.finding import (
    FULL,
    QUICK,
    EvasionBudget,
    black_box_examples,
    hopskipjump_distances,
    hsj_median_l2,
    hsj_within,
    rate,
    success_severity,
    transfers,
)
from mlaudit.attacks.evasion.square import square
from mlaudit.attacks.evasion.suite import adversary_base_features, adversary_surrogate
from mlaudit.attacks.evasion.transfer import TransferResult
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


@dataclass(frozen=True)
class BlackBoxEvasionResult:
    """What the black-box suite measured (step one of three)."""

    eps: float
    n: int  # held-out inputs labelled by the target
    n_ok: int  # of those, classified correctly
    square_fooled: int
    square_n: int  # 0 when the view gives labels only
    square_queries: np.ndarray
    hsj_l2: np.ndarray
    hsj_linf: np.ndarray
    transfers: dict[str, TransferResult]
    queries: int

    @property
    def hsj_within(self) -> int:
        return hsj_within(self.hsj_l2, self.hsj_linf, self.eps)

    @property
    def hsj_median_l2(self) -> float:
        return hsj_median_l2(self.hsj_l2)


def measure_blackbox_evasion(
    target: Target, x: np.ndarray, y: np.ndarray, *, surrogate: Any, base_features: Any, budget: EvasionBudget,
    seed: int,
) -> BlackBoxEvasionResult:  # fmt: skip
    """Label the held-out inputs, then Square (scores, when granted), HopSkipJump and the transfers on
    the correct ones; Square and HopSkipJump share what the query budget leaves after the labelling."""
    rng, g = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    idx = rng.permutation(len(x))[: budget.n_examples]
    xn, yn = np.asarray(x[idx], np.float32), np.asarray(y[idx])
    ok = np.flatnonzero(target.labels(xn) == yn)
    qb = target.threat_model.query_budget
    # what the checks after the attacks will ask: Square's results, and each transfer's clean and crafted labels
    reserve = len(yn) * (1 + 2 * ((surrogate is not None) + (base_features is not None)))
    n_sq, n_hsj = black_box_examples(None if qb is None else max(qb - target.queries - reserve, 0), budget)
    sq_idx = ok[:n_sq] if target.threat_model.access >= Access.PROBABILITIES else ok[:0]
    xs, q_sq = square(
        target.probabilities, xn[sq_idx], yn[sq_idx], eps=budget.eps, n_queries=budget.square_queries, rng=rng
    )
    fooled = int((target.labels(xs) != yn[sq_idx]).sum()) if len(sq_idx) else 0
    l2, linf = hopskipjump_distances(target, xn, yn, ok[: min(budget.hsj_examples, n_hsj)], budget, rng)
    crafted = transfers(target.labels, xn, yn, surrogate, base_features, budget, g)
    return BlackBoxEvasionResult(
        budget.eps, len(yn), len(ok), fooled, len(sq_idx), q_sq, l2, linf, crafted, target.queries
    )


def blackbox_evasion_severity(r: BlackBoxEvasionResult) -> Severity:
    """The strongest success rate measured (every attack here is within the adversary's access)."""
    rates = [v.success_rate for v in r.transfers.values() if v.n_correct]
    if r.square_n:
        rates.append(r.square_fooled / r.square_n)
    if len(r.hsj_linf):
        rates.append(r.hsj_within / len(r.hsj_linf))
    return success_severity(max(rates, default=0.0))


def render_blackbox_evasion(r: BlackBoxEvasionResult, budget: EvasionBudget) -> dict[str, Any]:
    """Title, summary, metrics and artifacts for Stamp.finish."""
    # an attack that did not run (labels only: no Square; no query left) reports no number, not a NaN
    metrics: dict[str, Metric] = {"clean_accuracy": rate(r.n_ok, r.n, "on held-out inputs, from the target's labels")}
    if r.square_n:
        metrics["square_success"] = rate(
            r.square_fooled, r.square_n, f"scores only, {budget.square_queries} queries each"
        )
        metrics["square_mean_queries"] = Metric(float(r.square_queries.mean()))
    if len(r.hsj_linf):
        metrics["hopskipjump_within_eps"] = rate(r.hsj_within, len(r.hsj_linf), "Linf <= eps, labels only")
        metrics["hopskipjump_median_l2"] = Metric(r.hsj_median_l2, method="of the adversarial examples found")
    for name, tr in r.transfers.items():
        metrics[f"transfer_{name}"] = Metric(tr.success_rate, *tr.ci, method="crafted without the target's weights")
    rows = [
        ["Square", "probabilities", f"{budget.square_queries} queries", f"{r.square_fooled}/{r.square_n}"],
        ["HopSkipJump", "labels", f"{budget.hsj_queries} queries", f"{r.hsj_within}/{len(r.hsj_linf)} within eps"],
    ]
    rows += [
        [f"transfer: {k}", "none", f"eps {r.eps:g}", f"{v.n_fooled}/{v.n_correct}"] for k, v in r.transfers.items()
    ]
    summary = (
        f"At Linf eps {r.eps:g}, without the weights: Square breaks {r.square_fooled}/{r.square_n} correctly "
        f"classified inputs, HopSkipJump gets {r.hsj_within}/{len(r.hsj_linf)} within eps"
        + "".join(f", transfer ({k}) {v.n_fooled}/{v.n_correct}" for k, v in r.transfers.items())
        + f"; {r.queries} queries."
    )
    return {
        "title": "Adversarial examples against the black box: score-only, label-only, transferred",
        "summary": summary,
        "metrics": metrics,
        "severity": blackbox_evasion_severity(r),
        "artifacts": (
            Artifact("table", "Attacks", {"columns": ["attack", "access", "budget", "broken"], "rows": rows}),
        ),
    }


@dataclass(frozen=True)
class BlackBoxEvasion:
    """Square, HopSkipJump and transfer attacks through the adversary's counted view of the target."""

    name: ClassVar[str] = "evasion-blackbox"
    category: ClassVar[str] = "evasion"
    requires: ClassVar[Requires] = Requires(
        Access.LABELS, modalities=frozenset({"image"}), needs=frozenset({"unit_range"}), min_queries=QUICK.hsj_queries
    )
    budget: EvasionBudget | None = None  # None: the quick budget (the full one with profile full)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        data, tm = inputs.nonmembers, inputs.threat_model or target.threat_model
        if data is None:
            raise InputError("the black-box evasion suite needs held-out inputs; set data.nonmembers")
        budget = self.budget or (FULL if inputs.budget == "full" else QUICK)
        stamp = Stamp(self, target, {"eps": budget.eps, "n_examples": budget.n_examples}, seed)
        surrogate, features = adversary_surrogate(inputs, tm, seed), adversary_base_features(inputs, tm)
        r = measure_blackbox_evasion(
            target, data.x, data.y, surrogate=surrogate, base_features=features, budget=budget, seed=seed
        )
        return stamp.finish(**render_blackbox_evasion(r, budget))
