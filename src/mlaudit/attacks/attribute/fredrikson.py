"""Attribute inference by model inversion (Fredrikson et al. 2014, USENIX Security; Yeom et al. 2018,
arXiv 1709.01604): the adversary knows a training record except its sensitive column, and its label.
For every candidate value it fills the column in, queries the model, and keeps the value under which
the model gives the true label the highest probability (a tie keeps the baseline's guess).

The leak is the gap to a baseline that never sees the model: a classifier trained on the adversary's
population data to predict the sensitive value from the other columns and the label (Jayaraman &
Evans 2022, arXiv 2201.09370, call this imputation). Scored by balanced accuracy, since sensitive
values are often rare (8% of CPS1988's rows are "afam"); intervals from a paired bootstrap.
Tabular data with one-hot sensitive columns named "<column>_<value>", as data.table_to_dataset makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def encoding(data: Dataset) -> tuple[list[int], np.ndarray]:
    """The sensitive one-hot columns and, per sensitive value v, the row of values those columns take
    when the attribute is v (read off the adversary's data: the schema is public). -> (cols, (V, len(cols)))"""
    name, feats = data.sensitive_name, list(data.meta.get("features", []))
    if data.kind != "tabular" or data.sensitive is None or name is None:
        raise InputError(f"attribute inference needs tabular data with a sensitive column; {data.name!r} has none")
    cols = [i for i, f in enumerate(feats) if f.startswith(f"{name}_")]
    if not cols:
        raise InputError(f"no one-hot columns '{name}_<value>' in {data.name!r}; features are: {', '.join(feats)}")
    x, s = np.asarray(data.x), np.asarray(data.sensitive)
    values = np.unique(s)
    if len(values) < 2:
        raise InputError(f"the population data shows one value of {name!r}; it needs every value to infer it")
    return cols, np.stack([x[s == v][0, cols] for v in values])


def infer(target: Target, records: Dataset, cols: list[int], codes: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The value index maximising p(true label | record with that value); ties take `fallback`."""
    x = np.asarray(records.x).copy()
    y = np.asarray(records.y)
    p = np.empty((len(x), len(codes)))
    for v, code in enumerate(codes):
        x[:, cols] = code
        p[:, v] = target.probabilities(x)[np.arange(len(x)), y]
    best = p.argmax(1)
    tie = (p == p.max(1, keepdims=True)).sum(1) > 1
    return np.where(tie, fallback, best)  # type: ignore[no-any-return]


def baseline(population: Dataset, cols: list[int]) -> LogisticRegression:
    """The model-free adversary: sensitive value from the other columns and the label."""
    keep = np.setdiff1d(np.arange(np.asarray(population.x).shape[1]), cols)
    model = LogisticRegression(max_iter=2000, class_weight="balanced")
    model.fit(np.column_stack([np.asarray(population.x)[:, keep], population.y]), population.sensitive)
    model.keep_ = keep
    return model


def _predict_baseline(model: LogisticRegression, records: Dataset) -> np.ndarray:
    return model.predict(np.column_stack([np.asarray(records.x)[:, model.keep_], records.y]))  # type: ignore[no-any-return]


def paired_bootstrap(
    truth: np.ndarray, a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, n: int = 1000
) -> tuple[float, float]:
    """95% interval of balanced_accuracy(a) - balanced_accuracy(b), resampling records."""
    diffs = []
    for _ in range(n):
        i = rng.integers(0, len(truth), len(truth))
        if len(np.unique(truth[i])) < 2:
            continue
        diffs.append(balanced_accuracy_score(truth[i], a[i]) - balanced_accuracy_score(truth[i], b[i]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass(frozen=True)
class AttributeInference:
    """Fill in each candidate value of the sensitive column; keep the one the model finds likeliest."""

    name: ClassVar[str] = "attribute-inference"
    category: ClassVar[str] = "attribute"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        frozenset({Knowledge.POPULATION_DATA}),
        modalities=frozenset({"tabular"}),
        needs=frozenset({"sensitive", "population"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, n, pop = inputs.members, inputs.nonmembers, inputs.population
        if m is None or n is None or pop is None:
            raise InputError(
                "attribute inference needs members, non-members and population data (threat_model.knowledge: "
                "population_data)"
            )
        cols, codes = encoding(pop)
        name = pop.sensitive_name
        stamp = Stamp(self, target, {"attribute": name, "values": len(codes), "population": len(pop)}, seed)
        base = baseline(pop, cols)
        rng = np.random.default_rng(seed)
        metrics: dict[str, Metric] = {}
        rows = []
        for label, part in (("members", m), ("non-members", n)):
            if part.sensitive is None:
                raise InputError(f"{part.name!r} has no sensitive column to score the inference against")
            truth = np.asarray(part.sensitive)
            guess_b = _predict_baseline(base, part)
            guess = infer(target, part, cols, codes, guess_b)
            acc, acc_b = balanced_accuracy_score(truth, guess), balanced_accuracy_score(truth, guess_b)
            lo, hi = paired_bootstrap(truth, guess, guess_b, rng=rng)
            key = "members" if label == "members" else "nonmembers"
            metrics[f"balanced_accuracy_{key}"] = Metric(float(acc), method="balanced accuracy of the attack")
            metrics[f"baseline_balanced_accuracy_{key}"] = Metric(float(acc_b), method="model-free imputation")
            metrics[f"advantage_{key}"] = Metric(float(acc - acc_b), lo, hi, "paired bootstrap 95%")
            rows.append([label, len(part), f"{acc:.3f}", f"{acc_b:.3f}", f"{acc - acc_b:+.3f} [{lo:+.3f}, {hi:+.3f}]"])
        adv = metrics["advantage_members"]
        low = adv.ci_low or 0.0
        severity = (
            Severity.HIGH
            if low > 0.1
            else Severity.MEDIUM
            if low > 0.03
            else Severity.LOW
            if low > 0
            else Severity.INFO
        )
        return stamp.finish(
            title=f"Attribute inference of {name!r} (Fredrikson et al. 2014)",
            summary=f"Querying the model recovers training records' {name} with balanced accuracy "
            f"{metrics['balanced_accuracy_members'].value:.3f}, against "
            f"{metrics['baseline_balanced_accuracy_members'].value:.3f} without it: advantage "
            f"{adv.value:+.3f} [{adv.ci_low:+.3f}, {adv.ci_high:+.3f}].",
            metrics=metrics,
            severity=severity,
            artifacts=(
                Artifact(
                    "table",
                    f"Inferring {name}: attack vs model-free baseline",
                    {"columns": ["records", "n", "attack", "baseline", "advantage [95%]"], "rows": rows},
                ),
            ),
        )
