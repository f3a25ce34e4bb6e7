"""The registry: every attack, check and demonstration mlaudit can run, by name, each declaring its
requirements (mlaudit.requirements.Requires). `mlaudit list` is generated from it, the planner selects
from it, and `get_attack(name)` builds any entry."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from mlaudit.attacks.attribute import AttributeInference
from mlaudit.attacks.attribute.demo import AttributeDemo
from mlaudit.attacks.base import Attack, AttackInputs
from mlaudit.attacks.evasion.blackbox import BlackBoxEvasion
from mlaudit.attacks.evasion.suite import EvasionSuite
from mlaudit.attacks.evasion.word_substitution import WordSubstitution
from mlaudit.attacks.extraction.active_learning import ActiveLearning
from mlaudit.attacks.extraction.copycat import Copycat
from mlaudit.attacks.extraction.equation_solving import EquationSolving, Retraining
from mlaudit.attacks.extraction.grey_box import GreyBoxHead
from mlaudit.attacks.extraction.knockoff_nets import KnockoffNets
from mlaudit.attacks.inversion.suite import ModelInversion
from mlaudit.attacks.membership.base_reference import BaseReference
from mlaudit.attacks.membership.boundary_distance import BoundaryDistance
from mlaudit.attacks.membership.gradient_norm import GradientNorm
from mlaudit.attacks.membership.labelonly import LabelOnly
from mlaudit.attacks.membership.lira import LiRA
from mlaudit.attacks.membership.lm_lira import LMLiRAOffline
from mlaudit.attacks.membership.lm_loss import LMLoss
from mlaudit.attacks.membership.lm_reference import LMBaseReference
from mlaudit.attacks.membership.loss import LOSS
from mlaudit.attacks.membership.min_k import MinK
from mlaudit.attacks.membership.min_k_plus_plus import MinKPlusPlus
from mlaudit.attacks.membership.rmia import RMIA
from mlaudit.attacks.membership.shokri import Shokri
from mlaudit.attacks.membership.whitebox import WhiteBox
from mlaudit.attacks.membership.zlib_ratio import ZlibRatio
from mlaudit.attacks.memorization.demo import CanaryExposureDemo, ExtractionDemo, LMMembershipDemo
from mlaudit.attacks.memorization.exposure import CanaryExposure
from mlaudit.attacks.memorization.extraction import TrainingDataExtraction
from mlaudit.attacks.memorization.prefix_probe import PrefixProbe
from mlaudit.attacks.property.demo import PropertyDemo
from mlaudit.defenses.backdoor.suites import BackdoorScan, PoisoningDemo
from mlaudit.defenses.extraction import ExtractionDefences
from mlaudit.defenses.file_scan import FileScan
from mlaudit.errors import ConfigError
from mlaudit.findings import CATEGORIES, Finding
from mlaudit.supplychain.privacy_backdoor.finding import BackdoorDemo, BackdoorDetect, MiniLMBackdoorDemo
from mlaudit.targets import Target, as_target
from mlaudit.threat import ThreatModel

REGISTRY: dict[str, Callable[..., Attack]] = {
    # membership inference
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
    "lira-offline-per-example-variance": partial(LiRA, online=False, variance="per-example"),
    "rmia": partial(RMIA, online=True),
    "rmia-offline": partial(RMIA, online=False),
    "shadow": Shokri,
    "lm-loss": LMLoss,
    "zlib": ZlibRatio,
    "min-k": MinK,
    "min-k-plus-plus": MinKPlusPlus,
    "lm-base-reference": LMBaseReference,
    "lm-lira-offline": LMLiRAOffline,
    # memorisation (language models)
    "canary-exposure": CanaryExposure,
    "prefix-probe": PrefixProbe,
    "training-data-extraction": TrainingDataExtraction,
    # attribute inference, inversion
    "attribute-inference": AttributeInference,
    "model-inversion": ModelInversion,
    # model extraction (stealing)
    "equation-solving": EquationSolving,
    "retraining": Retraining,
    "grey-box-head": GreyBoxHead,
    "knockoff-nets": KnockoffNets,
    "copycat": Copycat,
    "active-learning": ActiveLearning,
    "extraction-defences": ExtractionDefences,
    # security: adversarial examples, backdoors
    "evasion": EvasionSuite,
    "evasion-blackbox": BlackBoxEvasion,
    "word-substitution": WordSubstitution,
    "backdoor-scan": BackdoorScan,
    "poisoning-demo": PoisoningDemo,
    # supply chain
    "file-scan": FileScan,
    "backdoor-detect": BackdoorDetect,
    # demonstrations on built-in data (INFO: not about the audited model)
    "backdoor-demo": BackdoorDemo,
    "backdoor-demo-minilm": MiniLMBackdoorDemo,
    "attribute-demo": AttributeDemo,
    "lm-membership-demo": LMMembershipDemo,
    "canary-exposure-demo": CanaryExposureDemo,
    "extraction-demo": ExtractionDemo,
    "property-demo": PropertyDemo,
}


def parts() -> dict[str, str]:
    """Each attack that runs only inside a suite (`mlaudit list` shows it under "runs:") -> the suite."""
    out: dict[str, str] = {}
    for suite, make in REGISTRY.items():
        for part in getattr(make, "parts", ()):
            if part not in REGISTRY:
                out.setdefault(part, suite)
    return out


def get_attack(name: str, **params: Any) -> Attack:
    """Instantiate a registered attack; a part of a suite (e.g. pgd) gives the suite that runs it; an
    unknown name lists the registered ones."""
    if name not in REGISTRY:
        name = parts().get(name, name)
    if name not in REGISTRY:
        raise ConfigError(f"unknown attack {name!r}; registered attacks: {', '.join(sorted(REGISTRY))}")
    try:
        return REGISTRY[name](**params)
    except TypeError as e:
        raise ConfigError(f"bad parameters for attack {name!r}: {e}") from None


def run_attack(
    name: str,
    model: Any,
    inputs: AttackInputs,
    *,
    seed: int,
    threat_model: ThreatModel | None = None,
    num_classes: int | None = None,
    **params: Any,
) -> Finding:
    """The library's one call shape: any registered name (or a suite's part), any model (a Target, a
    torch module, a scikit-learn classifier, a numpy function; see targets.as_target), the data, a seed
    -> a Finding. The attack sees the model only through a view restricted to `threat_model` (default:
    the access and knowledge the attack declares), so queries are counted and the budget holds."""
    attack = get_attack(name, **params)
    target = as_target(model, num_classes=num_classes)
    adversary = threat_model or ThreatModel(access=attack.requires.access, knowledge=attack.requires.knowledge)
    if inputs.threat_model is None:
        inputs = dataclasses.replace(inputs, threat_model=adversary)
    return attack.run(view(target, adversary, auditor=attack.requires.auditor), inputs, seed=seed)


def view(target: Target, adversary: ThreatModel, *, auditor: bool) -> Target:
    """What an entry sees of `target`: the adversary's view; an auditor's check gets the target's own
    access, with the adversary's query budget and knowledge (its severity then follows the adversary)."""
    return target.restricted(dataclasses.replace(adversary, access=target.max_access) if auditor else adversary)


def expand(selection: tuple[str, ...] | list[str]) -> list[str]:
    """Attack names from a selection of names, family names (finding categories) and `all`, in
    registry order, each once; an unknown word is a ConfigError naming the valid ones."""
    families = {name: get_attack(name).category for name in REGISTRY}
    suites = parts()
    chosen: set[str] = set()
    for word in selection:
        if word == "all":
            chosen |= set(REGISTRY)
        elif word in REGISTRY:
            chosen.add(word)
        elif word in suites:  # a part runs inside its suite
            chosen.add(suites[word])
        elif word in CATEGORIES:
            chosen |= {n for n, c in families.items() if c == word}
        else:
            raise ConfigError(
                f"unknown attack or family {word!r}; use 'all', a family ({', '.join(sorted(set(families.values())))})"
                f" or an attack ({', '.join(REGISTRY)}); see 'mlaudit list'"
            )
    return [n for n in REGISTRY if n in chosen]


def describe() -> list[dict[str, Any]]:
    """One row per registered entry for `mlaudit list`."""
    rows = []
    for name in REGISTRY:
        attack = get_attack(name)
        cls = type(attack)
        rows.append(
            {
                "name": name,
                "category": attack.category,
                **attack.requires.to_dict(),
                "runs": list(getattr(attack, "parts", ())),
                "summary": _first_sentence(cls.__doc__ or "") + _variant(REGISTRY[name]),
                "paper": (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0],
            }
        )
    return rows


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _variant(make: Callable[..., Attack]) -> str:
    """The settings that make a registered variant (lira-offline: online=False)."""
    if not isinstance(make, partial) or not make.keywords:
        return ""
    return " [" + ", ".join(f"{k}={v}" for k, v in make.keywords.items()) + "]"
