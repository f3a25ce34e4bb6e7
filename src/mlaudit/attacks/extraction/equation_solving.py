"""Equation-solving and retraining extraction (Tramer et al. 2016, "Stealing Machine Learning Models via
Prediction APIs", USENIX Security).

Equation solving (s.4.1): a softmax (multinomial logistic) regression p = softmax(Wx + b) returns, for each
query, K - 1 linear equations in its parameters, log p_k - log p_0 = (w_k - w_0) x + (b_k - b_0). With d + 1
queries in general position they determine the model up to the softmax's shift, so the substitute predicts
exactly as the target does.

When the API rounds its probabilities (or returns zeros) the logarithms are not exact; then, as the paper does
for multiclass models, the substitute is fitted by minimising the cross-entropy between its outputs and the API's
(L-BFGS), which uses every query and degrades gracefully. The queries are random points in feature space
(Gaussian with the adversary's population mean and spread when it has population data; standard normal else).

Retraining (s.4.2, for models the equations do not pin down, such as MLPs): uniformly random queries in the
feature box (the population's per-feature range, [0, 1] without one), the API's probability vectors as soft
labels, and a model of the target's architecture (the recipe's) trained on them. No natural data is needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import optimize

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.extraction.evaluate import extraction_finding, fidelity_curve, fidelity_data, target_labels
from mlaudit.attacks.extraction.knockoff_nets import agreement, predictor, train_substitute
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


@dataclass(frozen=True)
class SoftmaxModel:
    """A softmax regression: logits = x W^T + b, W (K, d), b (K,)."""

    w: np.ndarray
    b: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1) @ self.w.T + self.b  # type: ignore[no-any-return]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(1)  # type: ignore[no-any-return]


def solve_exact(x: np.ndarray, p: np.ndarray) -> SoftmaxModel:
    """The least-squares solution of log p_k - log p_0 = (w_k - w_0) x + (b_k - b_0) (exact with d + 1
    queries in general position and exact probabilities); class 0's parameters are fixed at zero."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if (p <= 0).any():
        raise InputError("exact equation solving needs every probability > 0; use the cross-entropy fit")
    a = np.hstack([x, np.ones((len(x), 1))])
    rhs = np.log(p[:, 1:]) - np.log(p[:, :1])  # (n, K-1)
    theta, *_ = np.linalg.lstsq(a, rhs, rcond=None)  # (d+1, K-1)
    w = np.vstack([np.zeros((1, x.shape[1])), theta[:-1].T])
    b = np.concatenate([[0.0], theta[-1]])
    return SoftmaxModel(w, b)


def fit_cross_entropy(x: np.ndarray, p: np.ndarray, *, l2: float = 1e-6, max_iter: int = 2000) -> SoftmaxModel:
    """Softmax regression minimising the mean cross-entropy to the API's probability vectors `p` (rows
    renormalised), with a small L2 penalty so that an underdetermined system has a unique answer."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    n, d = x.shape
    k = p.shape[1]
    q = np.clip(p, 0, None)
    q = q / np.maximum(q.sum(1, keepdims=True), 1e-12)
    a = np.hstack([x, np.ones((n, 1))])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = theta.reshape(d + 1, k)
        z = a @ t
        z -= z.max(1, keepdims=True)
        log_s = z - np.log(np.exp(z).sum(1, keepdims=True))
        value = -(q * log_s).sum() / n + l2 * (t[:-1] ** 2).sum()
        grad = a.T @ (np.exp(log_s) - q) / n
        grad[:-1] += 2 * l2 * t[:-1]
        return float(value), grad.ravel()

    res = optimize.minimize(loss, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    t = res.x.reshape(d + 1, k)
    return SoftmaxModel(t[:-1].T.copy(), t[-1].copy())


def random_queries(n: int, d: int, population: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """n random points in feature space, spread like the population when the adversary has one."""
    if population is None:
        return rng.standard_normal((n, d))
    flat = np.asarray(population, dtype=np.float64).reshape(len(population), -1)
    mean, std = flat.mean(0), flat.std(0)
    return mean + rng.standard_normal((n, d)) * np.where(std > 0, std, 1.0)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EquationSolving:
    """Steal a softmax regression from its probabilities with d + 1 queries, solved exactly. Tramer et al.
    2016, s.4.1. `queries`: how many to send (default d + 1); `fit`: "auto" (exact solve when every returned
    probability is positive and unrounded, else the cross-entropy fit), "exact" or "cross-entropy"."""

    queries: int | None = None
    fit: str = "auto"
    name: ClassVar[str] = "equation-solving"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES, modalities=frozenset({"tabular"}))

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out = fidelity_data(inputs, self.name)
        if self.fit not in ("auto", "exact", "cross-entropy"):
            raise InputError(f"equation-solving fit must be auto, exact or cross-entropy, got {self.fit!r}")
        d = int(np.prod(np.asarray(held_out.x).shape[1:]))
        n = self.queries or d + 1
        stamp = Stamp(self, target, {"queries": n, "fit": self.fit, "features": d}, seed)
        rng = np.random.default_rng(seed)
        population = inputs.population.x if inputs.population is not None else None
        x = random_queries(n, d, population, rng).astype(np.float32)  # as sent: the equations hold for these
        p = target.probabilities(x.reshape(n, *np.asarray(held_out.x).shape[1:]))
        exact = getattr(target, "granularity", "probabilities") == "probabilities" and bool((p > 0).all())
        method = "exact" if self.fit == "exact" or (self.fit == "auto" and exact) else "cross-entropy"
        model = solve_exact(x, p) if method == "exact" else fit_cross_entropy(x, p)
        return extraction_finding(
            stamp,
            target,
            held_out,
            model.predict,
            queries=n,
            title="Equation-solving extraction of a softmax regression (Tramer et al. 2016)",
            how=f"{n} random queries for {d} features, solved by {method}",
            extra=_details(method, getattr(target, "granularity", "probabilities")),
        )


def _details(method: str, granularity: str) -> dict[str, Any]:
    return {"method": method, "granularity": granularity}


@dataclass(frozen=True)
class Retraining:
    """Steal a model of known architecture, such as an MLP, from its probabilities on uniformly random
    queries. Tramer et al. 2016, s.4.2. `budgets`: query counts measured (a curve); `epochs`: the copy's training."""

    budgets: tuple[int, ...] = (1000, 5000)
    epochs: int = 30
    name: ClassVar[str] = "retraining"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        knowledge=frozenset({Knowledge.TRAINING_RECIPE}),
        modalities=frozenset({"image", "tabular"}),
        needs=frozenset({"recipe"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out = fidelity_data(inputs, self.name)
        if inputs.recipe is None:
            raise InputError(f"{self.name} trains a copy of the target's architecture; add recipe:")
        budgets = sorted(set(self.budgets))
        if not budgets or budgets[0] < 1:
            raise InputError(f"{self.name} budgets must be positive query counts, got {list(self.budgets)}")
        stamp = Stamp(self, target, {"budgets": budgets, "epochs": self.epochs}, seed)
        shape = np.asarray(held_out.x).shape[1:]
        low, high = _box(inputs, shape)
        rng = np.random.default_rng(seed)
        x = rng.uniform(low, high, (budgets[-1], *shape)).astype(np.float32)
        p = target.probabilities(x)
        truth = target_labels(target, held_out.x)
        curve, model = [], None
        for b in budgets:
            model = train_substitute(inputs.recipe, x[:b], p[:b], epochs=self.epochs, seed=seed)
            curve.append((b, agreement(model, held_out.x, truth)))
        assert model is not None
        f = extraction_finding(
            stamp, target, held_out, predictor(model), queries=budgets[-1],
            title="Retraining extraction from uniform queries (Tramer et al. 2016)",
            how="uniformly random inputs in the feature box, a copy of the architecture trained on the answers",
            extra={"fidelity by budget": ", ".join(f"{b}: {v:.3f}" for b, v in curve)}, labels=truth,
        )  # fmt: skip
        return dataclasses.replace(f, artifacts=(*f.artifacts, fidelity_curve(curve, self.name)))


def _box(inputs: AttackInputs, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature [low, high] of the population ([0, 1] without one)."""
    if inputs.population is None:
        return np.zeros(shape), np.ones(shape)
    pop = np.asarray(inputs.population.x, dtype=np.float64)
    return pop.min(0), pop.max(0)
