"""The explicit attack registry: name -> attack class, with the access and knowledge each requires."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from mlaudit.attacks.attribute import AttributeInference
from mlaudit.attacks.base import Attack
from mlaudit.attacks.membership.base_reference import BaseReference
from mlaudit.attacks.membership.boundary_distance import BoundaryDistance
from mlaudit.attacks.membership.gradient_norm import GradientNorm
from mlaudit.attacks.membership.labelonly import LabelOnly
from mlaudit.attacks.membership.lira import LiRA
from mlaudit.attacks.membership.loss import LOSS
from mlaudit.attacks.membership.rmia import RMIA
from mlaudit.attacks.membership.shokri import Shokri
from mlaudit.attacks.membership.whitebox import WhiteBox
from mlaudit.errors import ConfigError
from mlaudit.threat import ThreatModel

REGISTRY: dict[str, Any] = {
    "loss": LOSS,
    "base-reference": BaseReference,
    "label-only": LabelOnly,
    "boundary-distance": BoundaryDistance,
    "gradient-norm": GradientNorm,
    "white-box": WhiteBox,
    "lira": partial(LiRA, online=True),
    "lira-fixed-variance": partial(LiRA, online=True, variance="global"),
    "lira-per-example-variance": partial(LiRA, online=True, variance="per-example"),
    "lira-augmented": partial(LiRA, online=True, augment=True),
    "lira-offline": partial(LiRA, online=False),
    "lira-offline-fixed-variance": partial(LiRA, online=False, variance="global"),
    "rmia": partial(RMIA, online=True),
    "rmia-offline": partial(RMIA, online=False),
    "shadow": Shokri,
    "attribute-inference": AttributeInference,
}


# Security attacks and detectors, run by the audit's evasion / poisoning jobs on image classifiers:
# name -> (category, the access it needs, module whose docstring cites the paper). Listed, not planned.
# Poisoning needs no access to the model, only a share of its training data.
SECURITY: dict[str, tuple[str, str, str]] = {
    "fgsm": ("evasion", "gradients", "mlaudit.attacks.evasion.fgsm"),
    "pgd": ("evasion", "gradients", "mlaudit.attacks.evasion.pgd"),
    "apgd": ("evasion", "gradients", "mlaudit.attacks.evasion.apgd"),
    "standard-evaluation": ("evasion", "gradients", "mlaudit.attacks.evasion.autoattack"),
    "cw-l2": ("evasion", "gradients", "mlaudit.attacks.evasion.cw"),
    "square": ("evasion", "probabilities", "mlaudit.attacks.evasion.square"),
    "hopskipjump": ("evasion", "labels", "mlaudit.attacks.evasion.hopskipjump"),
    "transfer": ("evasion", "labels", "mlaudit.attacks.evasion.transfer"),
    "word-substitution": ("evasion", "gradients", "mlaudit.attacks.evasion.word_substitution"),
    "badnets": ("poisoning", "training-data", "mlaudit.attacks.poisoning.badnets"),
    "blended": ("poisoning", "training-data", "mlaudit.attacks.poisoning.blended"),
    "label-consistent": ("poisoning", "training-data", "mlaudit.attacks.poisoning.clean_label"),
    "text-trigger": ("poisoning", "training-data", "mlaudit.attacks.poisoning.text_trigger"),
    "neural-cleanse": ("detection", "gradients", "mlaudit.defenses.backdoor.neural_cleanse"),
    "spectral-signatures": ("detection", "weights", "mlaudit.defenses.backdoor.spectral_signatures"),
    "activation-clustering": ("detection", "weights", "mlaudit.defenses.backdoor.activation_clustering"),
    "strip": ("detection", "probabilities", "mlaudit.defenses.backdoor.strip"),
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
    import importlib

    for name, (category, access, module) in SECURITY.items():
        doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()[0]
        rows.append(
            {
                "name": name,
                "category": category,
                "access": access,
                "knowledge": [],
                "summary": doc,
                "paper": doc,
            }
        )
    return rows
