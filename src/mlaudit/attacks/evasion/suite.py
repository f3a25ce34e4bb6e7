"""The evasion suite as one registered attack: FGSM and PGD sweeps, the standard evaluation (APGD-CE,
APGD-T; Croce & Hein 2020, arXiv 2003.01690), C&W L2, Square with scores only, HopSkipJump with
labels only, transfer from the public base, and gradient-masking flags (see attacks.evasion.finding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.evasion.finding import FULL, QUICK, EvasionBudget, evasion_finding
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge, ThreatModel


@dataclass(frozen=True)
class EvasionSuite:
    """Adversarial examples under Linf eps on held-out images; severity follows the strongest attack
    the threat model grants (white-box numbers are what an adversary holding the weights achieves)."""

    name: ClassVar[str] = "evasion"
    category: ClassVar[str] = "evasion"
    parts: ClassVar[tuple[str, ...]] = (
        "fgsm", "pgd", "apgd-ce", "apgd-t", "cw-l2", "square", "hopskipjump", "transfer",
    )  # fmt: skip
    # Square and HopSkipJump shorten to the query budget: one input each needs 1,000 queries
    requires: ClassVar[Requires] = Requires(
        Access.GRADIENTS,
        modalities=frozenset({"image"}),
        needs=frozenset({"unit_range"}),
        min_queries=QUICK.square_queries,
        auditor=True,
    )
    budget: EvasionBudget | None = None  # None: the profile's (QUICK or FULL)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        data, tm = inputs.nonmembers, inputs.threat_model or target.threat_model
        if data is None:
            raise InputError("the evasion suite needs held-out inputs; set data.nonmembers")
        return evasion_finding(
            target,
            data.x,
            data.y,
            access=tm.access,
            base_features=adversary_base_features(inputs, tm),
            surrogate=adversary_surrogate(inputs, tm, seed),
            budget=self.budget or (FULL if inputs.budget == "full" else QUICK),
            seed=seed,
            threat_model=tm.to_dict(),
        )


def adversary_base_features(inputs: AttackInputs, tm: ThreatModel) -> Any:
    """The public base's feature extractor, when the adversary knows the base (it is public: all access)."""
    if inputs.base is None or Knowledge.BASE_MODEL not in tm.knowledge:
        return None
    return inputs.base.feature_extractor()


def adversary_surrogate(inputs: AttackInputs, tm: ThreatModel, seed: int) -> Any:
    """The adversary's own model from the recipe on its pool, when it knows the data distribution."""
    if inputs.recipe is None or inputs.pool is None or Knowledge.POPULATION_DATA not in tm.knowledge:
        return None
    return inputs.recipe.surrogate(inputs.pool, seed=seed)
