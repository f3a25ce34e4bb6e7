"""Property inference with a permutation-invariant meta-classifier (Ganju et al. 2018, CCS, "Property
Inference Attacks on Fully Connected Neural Networks using Permutation Invariant Representations").

The adversary trains shadow models, with the target's recipe, on data sets that have the property in
one of two proportions (e.g. 30% or 70% women), and a meta-classifier that tells the two apart from
the shadow models' parameters. Hidden neurons can be permuted without changing the function, so each
model is represented as the set of its first-layer neurons (incoming weights, bias, outgoing
weights), put in a canonical order by sorting on the outgoing-weight contrast; the meta-classifier is
logistic regression on that representation. Shadow models train as one vectorised ensemble (the
reference-model trainer of the membership audits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.metrics import clopper_pearson
from mlaudit.models import MLP, TrainConfig
from mlaudit.models.ensemble import train_ensemble


def subset_with_share(
    pool: np.ndarray, has_property: np.ndarray, share: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """`n` rows of `pool` of which round(share * n) have the property (`has_property` indexes rows)."""
    yes, no = pool[has_property[pool]], pool[~has_property[pool]]
    k = int(round(share * n))
    if k > len(yes) or n - k > len(no):
        raise InputError(
            f"the pool has {len(yes)} rows with the property and {len(no)} without; {n} at {share:.0%} need more"
        )
    return np.sort(np.concatenate([rng.choice(yes, k, replace=False), rng.choice(no, n - k, replace=False)]))


def neuron_set(model: MLP) -> np.ndarray:
    """The first hidden layer as rows [incoming weights, bias, outgoing weights], sorted by the contrast
    of the outgoing weights (last class minus first): the same for every permutation of the neurons."""
    lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if len(lin) != 2:
        raise InputError("the permutation-invariant representation here is for one-hidden-layer MLPs")
    w1, b1, w2 = (t.detach().numpy().astype(np.float64) for t in (lin[0].weight, lin[0].bias, lin[1].weight))
    rows = np.column_stack([w1, b1, w2.T])
    return rows[np.argsort(w2[-1] - w2[0], kind="stable")]


def representation(model: MLP) -> np.ndarray:
    """Permutation-invariant features of one model: sums over the neuron set (DeepSets' sum pooling,
    with element functions: the neuron itself, and its incoming weights and bias scaled by its
    outgoing contrast, split by sign) followed by the sorted set itself."""
    rows = neuron_set(model)
    d = rows.shape[1] - 3  # incoming weights; then bias, outgoing (2 classes, or C)
    w_in, b = rows[:, :d], rows[:, d]
    out = rows[:, d + 1 :]
    c = out[:, -1] - out[:, 0]
    pooled = [
        rows.mean(0),
        (c[:, None] * w_in).sum(0),
        (np.maximum(c, 0)[:, None] * w_in).sum(0),
        (np.maximum(-c, 0)[:, None] * w_in).sum(0),
        [float((c * b).sum()), float(np.abs(c).sum())],
    ]
    return np.concatenate([np.concatenate([np.ravel(p) for p in pooled]), rows.ravel()])


def train_models(
    x: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    has_property: np.ndarray,
    shares: tuple[float, float],
    *,
    per_share: int,
    n_train: int,
    hidden: int,
    config: TrainConfig,
    seed: int,
) -> tuple[list[MLP], np.ndarray]:
    """`per_share` models for each of the two shares (label 0 = shares[0], 1 = shares[1]), trained as
    one ensemble on subsets of `pool`; returns the models and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], per_share)
    subsets = [subset_with_share(pool, has_property, shares[int(b)], n_train, rng) for b in labels]
    models = []
    for k in range(len(labels)):
        with torch.random.fork_rng():
            torch.manual_seed(seed * 100_000 + k)
            models.append(MLP(in_features=x.shape[1], num_classes=int(y.max()) + 1, hidden=(hidden,)))
    train_ensemble(models, subsets, x, y, config, seeds=[seed * 100_000 + 50_000 + k for k in range(len(labels))])
    return models, labels


@dataclass(frozen=True)
class PropertyResult:
    accuracy: float
    ci_low: float
    ci_high: float
    n_targets: int
    n_shadows: int


def property_inference(
    shadows: list[MLP], shadow_labels: np.ndarray, targets: list[MLP], target_labels: np.ndarray, *, c: float = 0.1
) -> PropertyResult:
    """Fit the meta-classifier on the shadows; its accuracy on the held-out targets (Clopper-Pearson 95%)."""
    feats = np.stack([representation(m) for m in shadows])
    meta = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(feats, shadow_labels)
    pred = meta.predict(np.stack([representation(m) for m in targets]))
    hits = int((pred == target_labels).sum())
    lo, hi = clopper_pearson(hits, len(targets))
    return PropertyResult(hits / len(targets), lo, hi, len(targets), len(shadows))


def property_finding(
    result: PropertyResult,
    control: PropertyResult | None,
    *,
    prop: str,
    shares: tuple[float, float],
    dataset: str,
    seed: int,
    threat_model: dict[str, Any],
    duration_s: float = 0.0,
) -> Finding:
    """One finding: the meta-classifier's accuracy on held-out targets, and on a control where both
    groups of targets have the same share (it should sit at chance)."""
    from mlaudit.findings import versions

    metrics = {
        "accuracy": Metric(result.accuracy, result.ci_low, result.ci_high, "held-out targets, Clopper-Pearson 95%")
    }
    rows = [[f"{shares[0]:.0%} vs {shares[1]:.0%}", result.n_shadows, result.n_targets, _cell(result)]]
    if control is not None:
        metrics["control_accuracy"] = Metric(control.accuracy, control.ci_low, control.ci_high, "both groups at 50%")
        rows.append(["50% vs 50% (control)", control.n_shadows, control.n_targets, _cell(control)])
    low = result.ci_low
    severity = (
        Severity.HIGH if low > 0.8 else Severity.MEDIUM if low > 0.6 else Severity.LOW if low > 0.5 else Severity.INFO
    )
    return Finding(
        id="property-inference",
        category="property",
        attack="property-inference",
        title=f"Property inference of the share of {prop} (Ganju et al. 2018)",
        summary=f"From the parameters alone, a meta-classifier tells models trained on {dataset} with "
        f"{shares[0]:.0%} {prop} from those with {shares[1]:.0%} with accuracy {result.accuracy:.0%} "
        f"[{result.ci_low:.0%}, {result.ci_high:.0%}] on {result.n_targets} held-out models"
        + (f"; {control.accuracy:.0%} when the share does not differ (chance)." if control else "."),
        threat_model=threat_model,
        metrics=metrics,
        severity=severity,
        artifacts=(
            Artifact.table(
                "Meta-classifier on held-out target models",
                ["property shares", "shadow models", "targets", "accuracy [95%]"],
                rows,
            ),
        ),
        config={"property": prop, "shares": list(shares), "dataset": dataset, "queries": 0},
        seed=seed,
        duration_s=round(duration_s, 3),
        versions=versions(),
    )


def _cell(r: PropertyResult) -> str:
    return f"{r.accuracy:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
