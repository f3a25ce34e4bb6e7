"""What the language-model membership attacks share: the documents they score, their requirements, and
one finding from per-document scores (the classifier attacks' metrics, intervals, ROC and most-exposed
members). Scores: higher means "member"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.membership.evaluate import (
    exposed_artifacts,
    membership_metrics,
    membership_severity,
    roc_artifact,
    score_histogram,
)
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.targets.base import Target

LANGUAGE = frozenset({"language"})


def documents(target: Target, inputs: AttackInputs, attack: str) -> tuple[Dataset, Dataset]:
    """The members and non-members as lists of documents, for a language-model target."""
    m, n = inputs.members, inputs.nonmembers
    if m is None or n is None:
        raise InputError(f"the {attack} attack needs members and non-members (documents) to evaluate")
    if target.modality != "language" or m.kind != "text" or n.kind != "text":
        raise InputError(f"the {attack} attack scores the documents of a causal language model")
    return m, n


def lm_finding(
    attack: Any,
    target: Target,
    inputs: AttackInputs,
    *,
    seed: int,
    score: Callable[[Target, list[str]], np.ndarray],
    title: str,
    signal: str,
    config: dict[str, Any] | None = None,
) -> Finding:
    """Score members and non-members with `score(target, documents) -> (N,)` and make the finding."""
    m, n = documents(target, inputs, attack.name)
    stamp = Stamp(attack, target, {"members": m.name, "nonmembers": n.name, **(config or {})}, seed)
    s_in, s_out = score(target, list(m.x)), score(target, list(n.x))
    metrics = membership_metrics(s_in, s_out)
    auc = metrics["auc"]
    return stamp.finish(
        title=title,
        summary=f"{signal} separates {m.name} from {n.name} with AUC {auc.value:.3f} [{auc.ci_low:.3f}, "
        f"{auc.ci_high:.3f}]; TPR at 1% FPR {metrics['tpr_at_0.01_fpr'].value:.2%}.",
        metrics=metrics,
        severity=membership_severity(metrics),
        artifacts=(
            roc_artifact(s_in, s_out, "ROC (log-log)"),
            score_histogram(s_in, s_out, signal),
            *exposed_artifacts(m, s_in, s_out, nonmembers=n),
        ),
    )


def lowest_mean(values: np.ndarray, k: float) -> float:
    """The mean of the lowest ceil(k * T) of a document's T per-token values (at least one)."""
    n = max(1, int(np.ceil(k * len(values))))
    return float(np.sort(values)[:n].mean())


def check_fraction(k: float, attack: str) -> None:
    if not 0 < k <= 1:
        raise InputError(f"{attack}: k is the fraction of tokens kept, in (0, 1]; got {k}")
