"""The explicit attack registry: name -> attack class, with the access and knowledge each requires."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from mlaudit.attacks.base import Attack
from mlaudit.attacks.membership.base_reference import BaseReference
from mlaudit.attacks.membership.gradient_norm import GradientNorm
from mlaudit.attacks.membership.labelonly import LabelOnly
from mlaudit.attacks.membership.lira import LiRA
from mlaudit.attacks.membership.loss import LOSS
from mlaudit.attacks.membership.rmia import RMIA
from mlaudit.errors import ConfigError
from mlaudit.threat import ThreatModel

REGISTRY: dict[str, Any] = {
    "loss": LOSS,
    "base-reference": BaseReference,
    "label-only": LabelOnly,
    "gradient-norm": GradientNorm,
    "lira": partial(LiRA, online=True),
    "lira-fixed-variance": partial(LiRA, online=True, fixed_variance=True),
    "lira-offline": partial(LiRA, online=False),
    "lira-offline-fixed-variance": partial(LiRA, online=False, fixed_variance=True),
    "rmia": partial(RMIA, online=True),
    "rmia-offline": partial(RMIA, online=False),
}


def get_attack(name: str, **params: Any) -> Attack:
    """Instantiate a registered attack; an unknown name lists the registered ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown attack {name!r}; registered attacks: {', '.join(sorted(REGISTRY))}")
    try:
        return REGISTRY[name](**params)  # type: ignore[no-any-return]
    except TypeError as e:
        raise ConfigError(f"bad parameters for attack {name!r}: {e}") from None


def check_permitted(attack: Attack, threat_model: ThreatModel) -> None:
    """Raise ThreatModelError naming what is missing when the threat model does not permit `attack`."""
    threat_model.check(attack.name, attack.access, attack.knowledge)


def describe() -> list[dict[str, Any]]:
    """One row per attack for `mlaudit list`."""
    rows = []
    for name, factory in sorted(REGISTRY.items()):
        cls = type(factory())
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(
            {
                "name": name,
                "category": cls.category,
                "access": cls.access.name.lower(),
                "knowledge": sorted(k.value for k in cls.knowledge),
                "summary": doc,
                "paper": (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0],
            }
        )
    return rows
