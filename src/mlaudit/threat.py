"""Threat model: who has what access to which asset (after Rigaki & Garcia, arXiv 2007.07646)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from mlaudit.errors import ConfigError, ThreatModelError


class Access(enum.IntEnum):
    """What the adversary can obtain from the target, weakest first.

    The levels nest: an adversary holding the weights can compute gradients, logits,
    probabilities and labels, so a threat model permits every attack whose required
    access is at or below its own.
    """

    LABELS = 1
    PROBABILITIES = 2
    LOGITS = 3
    GRADIENTS = 4
    WEIGHTS = 5

    @classmethod
    def parse(cls, value: str | Access) -> Access:
        if isinstance(value, Access):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            valid = ", ".join(a.name.lower() for a in cls)
            raise ConfigError(f"unknown access level {value!r}; use one of: {valid}") from None


class Knowledge(enum.Enum):
    """Auxiliary knowledge the adversary holds besides access to the target."""

    POPULATION_DATA = "population_data"  # samples from the training distribution, disjoint from members
    BASE_MODEL = "base_model"  # the public pretrained checkpoint the target was fine-tuned from
    TRAINING_RECIPE = "training_recipe"  # architecture and hyper-parameters, enough to train references
    MEMBER_SUBSET = "member_subset"  # some training examples known as such (Nasr et al. 2019's partial knowledge)

    @classmethod
    def parse(cls, value: str | Knowledge) -> Knowledge:
        if isinstance(value, Knowledge):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            raise ConfigError(f"unknown knowledge {value!r}; use one of: {valid}") from None


OUTPUTS = ("exact", "rounded", "top_k", "labels", "logprobs")


@dataclass(frozen=True)
class ThreatModel:
    """The adversary an audit assumes.

    Args:
        access: the strongest output the adversary obtains from the target.
        query_budget: the most examples the adversary may query, or None for unlimited.
        knowledge: auxiliary knowledge (population data, the public base model, the recipe).
        asset: what is being attacked: "training_data" or "model".
        output: how exact the outputs at that access are: "exact", or what a served model's API returns
            instead ("rounded", "top_k", "labels", "logprobs"); recorded from an HTTP target's metadata.
    """

    access: Access = Access.PROBABILITIES
    query_budget: int | None = None
    knowledge: frozenset[Knowledge] = field(default_factory=frozenset)
    asset: str = "training_data"
    output: str = "exact"

    def __post_init__(self) -> None:
        if self.query_budget is not None and self.query_budget < 1:
            raise ConfigError(
                f"query_budget must be a positive integer or null, got {self.query_budget!r}; "
                "use null for an unlimited budget"
            )
        if self.asset not in ("training_data", "model"):
            raise ConfigError(f"unknown asset {self.asset!r}; use 'training_data' or 'model'")
        if self.output not in OUTPUTS:
            raise ConfigError(f"unknown output granularity {self.output!r}; use one of: {', '.join(OUTPUTS)}")

    def check(self, name: str, access: Access, knowledge: frozenset[Knowledge]) -> None:
        """Raise ThreatModelError if an attack needing `access` and `knowledge` is not permitted."""
        if access > self.access:
            raise ThreatModelError(
                f"attack {name!r} needs {access.name.lower()} access but the threat model grants "
                f"only {self.access.name.lower()}; raise threat_model.access or drop the attack"
            )
        missing = knowledge - self.knowledge
        if missing:
            names = ", ".join(sorted(k.value for k in missing))
            raise ThreatModelError(
                f"attack {name!r} needs knowledge [{names}] the threat model does not grant; "
                f"add it to threat_model.knowledge or drop the attack"
            )

    def served(self, granularity: str) -> ThreatModel:
        """This threat model with the output a target's recorded `granularity` gives the adversary (a
        granularity that is not an inexact output, e.g. "probabilities", leaves it exact)."""
        output = granularity if granularity in OUTPUTS else "exact"
        return self if output == self.output else dataclasses.replace(self, output=output)

    def permits(self, access: Access, knowledge: frozenset[Knowledge]) -> bool:
        return access <= self.access and knowledge <= self.knowledge

    def to_dict(self) -> dict[str, Any]:
        out = {
            "access": self.access.name.lower(),
            "query_budget": self.query_budget,
            "knowledge": sorted(k.value for k in self.knowledge),
            "asset": self.asset,
        }
        return out if self.output == "exact" else {**out, "output": self.output}
