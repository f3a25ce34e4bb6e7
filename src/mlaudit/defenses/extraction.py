"""Extraction under output defences: what each defence `mlaudit serve` offers buys against model stealing.

For each defence (none, rounding to 2 decimals, top-1 probability, label only, reverse sigmoid), the target is
answered as the server would answer (`defenses.output.defend` on its probabilities), and the stealing attack
that fits the answers runs at each query budget: Knockoff Nets on probability answers, Copycat on labels
(a top-k answer is read as probabilities with the withheld classes at 0). The finding plots fidelity against
queries with one line per defence, and tabulates each defence's utility cost (accuracy of its labels, and the
mean L1 change of the probability rows it returns) beside the fidelity a thief reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.extraction.copycat import Copycat
from mlaudit.attacks.extraction.evaluate import fidelity_data
from mlaudit.attacks.extraction.knockoff_nets import KnockoffNets, query_pool, thief_requires
from mlaudit.defenses.output import OutputDefence, defend
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.targets.http import top_k_rows
from mlaudit.threat import Access, ThreatModel

DEFENCES = (
    OutputDefence("none"),
    OutputDefence("round", decimals=2),
    OutputDefence("top_k", k=1),
    OutputDefence("reverse_sigmoid", beta=0.2, gamma=0.5),
    OutputDefence("label"),
)


class DefendedTarget(Target):
    """The target as a server with `defence` answers it: probabilities after the defence, or labels only."""

    def __init__(self, inner: Target, defence: OutputDefence, seed: int) -> None:
        super().__init__()
        self.inner, self.defence = inner, defence
        self.rng = np.random.default_rng(seed)
        self.num_classes, self.name = inner.num_classes, f"{inner.name} ({defence.kind})"
        self.max_access = Access.LABELS if defence.kind == "label" else Access.PROBABILITIES
        self.threat_model = ThreatModel(access=self.max_access)
        self.granularity = defence.granularity

    def _answer(self, x: Any) -> Any:
        return defend(self.inner.probabilities(x), self.defence, self.rng)

    def labels(self, x: Any) -> np.ndarray:
        self._guard(Access.LABELS, len(x))
        return self._answer(x).labels  # type: ignore[no-any-return]

    def _probabilities(self, x: Any) -> np.ndarray:
        return self.rows(self.inner.probabilities(x))

    def rows(self, probabilities: np.ndarray) -> np.ndarray:
        """What a client reads as probability rows when the target's rows are `probabilities`: the
        defended rows (a top-k answer with the withheld classes at 0; a label as its one-hot row)."""
        r = defend(probabilities, self.defence, self.rng)
        if r.top_classes is not None and r.top_probabilities is not None:
            return top_k_rows(r.top_classes, r.top_probabilities, self.num_classes)
        if r.probabilities is None:
            return np.eye(self.num_classes)[np.asarray(r.labels)]
        return np.asarray(r.probabilities)


@dataclass(frozen=True)
class ExtractionDefences:
    """Fidelity of Knockoff / Copycat against each output defence of `mlaudit serve`, at each query budget."""

    budgets: tuple[int, ...] = (100, 1000)
    epochs: int = 20
    name: ClassVar[str] = "extraction-defences"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = thief_requires(Access.PROBABILITIES, profile="full", auditor=True)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out = fidelity_data(inputs, self.name)
        query_pool(inputs, self.name)
        if target.max_access < Access.PROBABILITIES:
            raise InputError(f"{self.name} applies the defences to the target's probabilities; it gives only labels")
        stamp = Stamp(self, target, {"budgets": list(self.budgets), "epochs": self.epochs}, seed)
        truth = np.asarray(held_out.y)
        clean = target.probabilities(held_out.x)
        series: dict[str, list[float]] = {}
        rows, x_axis = [], sorted(set(self.budgets))
        for d in DEFENCES:
            served = DefendedTarget(target, d, seed)
            thief = (Copycat if d.kind == "label" else KnockoffNets)(budgets=tuple(x_axis), epochs=self.epochs)
            f = thief.run(served, inputs, seed=seed)
            ys = next(a for a in f.artifacts if a.kind == "curve").data["series"][thief.name]
            label = _label(d)
            series[label] = ys
            answered = defend(clean, d, np.random.default_rng(seed))
            accuracy = f"{float((answered.labels == truth).mean()):.3f}"
            rows.append([label, thief.name, accuracy, _distortion(answered, clean), f"{ys[-1]:.3f}"])
        return _finish(stamp, series, rows, x_axis)


def _distortion(answered: Any, clean: np.ndarray) -> str:
    """Mean L1 change of the probability rows the defence returns ("-" when it returns none)."""
    if answered.probabilities is None:
        return "-"
    return f"{float(np.abs(answered.probabilities - clean).sum(1).mean()):.3f}"


def _label(d: OutputDefence) -> str:
    extra = {k: v for k, v in d.to_dict().items() if k != "kind"}
    return d.kind + (" " + ", ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


def _finish(stamp: Stamp, series: dict[str, list[float]], rows: list[list[Any]], x: list[int]) -> Finding:
    best_defended = min(ys[-1] for name, ys in series.items() if not name.startswith("none"))
    undefended = series["none"][-1]
    metrics = {
        "fidelity_undefended": Metric(undefended, method=f"Knockoff fidelity at {x[-1]} queries, no defence"),
        "fidelity_best_defence": Metric(best_defended, method=f"lowest fidelity over the defences at {x[-1]} queries"),
    }
    severity = Severity.HIGH if best_defended >= 0.9 else Severity.MEDIUM if best_defended >= 0.7 else Severity.LOW
    curve = {"x": x, "xlabel": "queries", "ylabel": "fidelity (held-out)", "series": series, "ylim": [0, 1]}
    return stamp.finish(
        title="Model extraction against each output defence",
        summary=(
            f"A thief reaches {undefended:.1%} fidelity with {x[-1]} queries against the undefended API; the "
            f"strongest output defence leaves {best_defended:.1%}."
        ),
        metrics=metrics,
        severity=severity,
        artifacts=(
            Artifact("curve", "Fidelity against queries, per defence", curve),
            Artifact.table(
                "Defences: utility and what a thief reaches",
                ["defence", "thief", "accuracy of the answers", "mean L1 change", f"fidelity at {x[-1]}"],
                rows,
            ),
        ),
    )
