"""How an extraction is measured and judged: fidelity (label agreement with the target) and the substitute's
accuracy on held-out data, each with an exact binomial interval, against the agreement a constant guess of the
target's commonest label already reaches.

The held-out labels of the target are the auditor's measurement, read through a view of its own (labels
access, no budget): they are not the adversary's queries, which the finding counts separately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.metrics import clopper_pearson
from mlaudit.targets.base import Target
from mlaudit.threat import Access, ThreatModel


def fidelity_data(inputs: AttackInputs, name: str) -> Dataset:
    """Held-out data to measure fidelity on: the evaluation set, else the non-members."""
    data = inputs.evaluation or inputs.nonmembers
    if data is None or len(data.y) == 0:
        raise InputError(f"{name} measures fidelity on held-out data; set data.nonmembers (examples not trained on)")
    return data


def proportion(k: int, n: int, method: str) -> Metric:
    low, high = clopper_pearson(k, n)
    return Metric(k / n, low, high, method)


def extraction_metrics(
    target_labels: np.ndarray, substitute: np.ndarray, truth: np.ndarray, queries: int
) -> dict[str, Metric]:
    n = len(target_labels)
    agree = int((target_labels == substitute).sum())
    majority = int(np.bincount(target_labels).max())
    return {
        "fidelity": proportion(agree, n, "label agreement with the target on held-out data (Clopper-Pearson)"),
        "substitute_accuracy": proportion(int((substitute == truth).sum()), n, "substitute accuracy (Clopper-Pearson)"),
        "target_accuracy": proportion(int((target_labels == truth).sum()), n, "target accuracy (Clopper-Pearson)"),
        "constant_guess_fidelity": Metric(majority / n, method="agreement of the target's commonest label"),
        "queries": Metric(float(queries), method="adversary queries"),
    }


def extraction_severity(m: dict[str, Metric]) -> Severity:
    """HIGH: a copy that agrees on >= 95% of held-out inputs; MEDIUM: >= 80%; each at least 10 points above
    the constant guess (else the agreement says nothing about the model); LOW otherwise."""
    fid, base = m["fidelity"].value, m["constant_guess_fidelity"].value
    if fid - base < 0.10:
        return Severity.LOW
    return Severity.HIGH if fid >= 0.95 else Severity.MEDIUM if fid >= 0.80 else Severity.LOW


def target_labels(target: Target, x: Any) -> np.ndarray:
    """The target's held-out labels, read by the auditor (a view with labels access and no budget)."""
    return target.restricted(ThreatModel(access=Access.LABELS)).labels(x)


def extraction_finding(
    stamp: Stamp,
    target: Target,
    held_out: Dataset,
    predict: Callable[[Any], np.ndarray],
    *,
    queries: int,
    title: str,
    how: str,
    extra: dict[str, Any] | None = None,
    labels: np.ndarray | None = None,
) -> Finding:
    """The finding of a substitute's agreement on `held_out`; `labels`: the target's held-out labels when
    the attack already read them (read once, not twice: a served target answers and counts every row)."""
    labels = target_labels(target, held_out.x) if labels is None else labels
    m = extraction_metrics(labels, np.asarray(predict(held_out.x)), np.asarray(held_out.y), queries)
    fid = m["fidelity"]
    rows = [[k, v] for k, v in (extra or {}).items()]
    return stamp.finish(
        title=title,
        summary=(
            f"A substitute stolen with {queries} queries ({how}) agrees with the target on {fid.value:.1%} "
            f"[{fid.ci_low:.1%}, {fid.ci_high:.1%}] of {len(labels)} held-out inputs ({held_out.name}); "
            f"substitute accuracy {m['substitute_accuracy'].value:.1%}, target {m['target_accuracy'].value:.1%}, "
            f"a constant guess agrees on {m['constant_guess_fidelity'].value:.1%}."
        ),
        metrics=m,
        severity=extraction_severity(m),
        artifacts=(Artifact.table("Extraction details", ["setting", "value"], rows),) if rows else (),
    )


def fidelity_curve(points: list[tuple[int, float]], name: str) -> Artifact:
    """Fidelity against queries, in the report's curve format."""
    data = {
        "x": [int(b) for b, _ in points],
        "xlabel": "queries",
        "ylabel": "fidelity (held-out)",
        "series": {name: [float(v) for _, v in points]},
        "ylim": [0, 1],
    }
    return Artifact("curve", "Fidelity against queries", data)
