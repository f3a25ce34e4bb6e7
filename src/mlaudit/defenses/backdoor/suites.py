"""Backdoor checks as registered attacks: Neural Cleanse on the audited model (Wang et al. 2019), and
the poisoning measurement (BadNets, Blended, label-consistent poisons trained with the target's
recipe, then Spectral Signatures, Activation Clustering, STRIP and Neural Cleanse on the result)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.defenses.backdoor.finding import backdoor_scan_finding, poisoning_demo_finding
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access

_IMAGES = frozenset({"image"})


@dataclass(frozen=True)
class BackdoorScan:
    """Neural Cleanse on the audited model: a label whose reverse-engineered trigger is an outlier-small
    mask is flagged (500 held-out images)."""

    name: ClassVar[str] = "backdoor-scan"
    category: ClassVar[str] = "poisoning"
    parts: ClassVar[tuple[str, ...]] = ("neural-cleanse",)
    requires: ClassVar[Requires] = Requires(
        Access.GRADIENTS, modalities=_IMAGES, needs=frozenset({"unit_range"}), auditor=True
    )
    n_examples: int = 500
    epochs: int = 30  # Neural Cleanse's optimisation epochs per label

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        data = inputs.nonmembers
        if data is None:
            raise InputError("the backdoor scan needs held-out inputs; set data.nonmembers")
        x = data.x[np.random.default_rng(seed).permutation(len(data))[: self.n_examples]]
        tm = inputs.threat_model or target.threat_model
        return backdoor_scan_finding(
            target.differentiable(),
            x,
            target.num_classes,
            labels=sorted(set(data.y.tolist())),
            epochs=self.epochs,
            seed=seed,
            threat_model=tm.to_dict(),
        )


@dataclass(frozen=True)
class PoisoningDemo:
    """Poison 5% of the private training set, train with the target's own recipe, measure clean accuracy,
    attack success and the detectors (the auditor's data and recipe; the adversary only writes data)."""

    name: ClassVar[str] = "poisoning-demo"
    category: ClassVar[str] = "poisoning"
    parts: ClassVar[tuple[str, ...]] = (
        "badnets", "blended", "label-consistent", "spectral-signatures", "activation-clustering", "strip",
        "neural-cleanse",
    )  # fmt: skip
    requires: ClassVar[Requires] = Requires(
        Access.GRADIENTS, modalities=_IMAGES, needs=frozenset({"recipe", "unit_range"}), auditor=True
    )
    nc_epochs: int = 30  # Neural Cleanse on the poisoned model

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        m, test, recipe = inputs.members, inputs.nonmembers, inputs.recipe
        if m is None or test is None or recipe is None:
            raise InputError("the poisoning measurement needs members, non-members and the training recipe")
        surrogate = recipe.surrogate(inputs.pool, seed=seed) if inputs.pool is not None else None
        tm = inputs.threat_model or target.threat_model
        return poisoning_demo_finding(
            lambda x, y: recipe.fit(x, y, seed=seed),
            m.x,
            m.y,
            test.x,
            test.y,
            clean_model=target.differentiable(),
            surrogate=surrogate,
            num_classes=target.num_classes,
            nc_epochs=self.nc_epochs,
            seed=seed,
            threat_model=tm.to_dict(),
        )
