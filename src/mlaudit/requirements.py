"""What an attack declares it needs, what a prepared audit offers, and why an attack cannot run.

The planner runs every selected attack whose `Requires` the setup's `Offer` meets; for the others
`unmet` gives the reason and the config change that would enable it, and the report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaudit.threat import Access, Knowledge, ThreatModel

MODALITIES = ("image", "tabular", "text", "language")  # language: documents of a causal LM
PROFILE_ORDER = ("quick", "full")

# what an attack may need from the setup record: (what it is, the config change that provides it)
NEEDS: dict[str, tuple[str, str]] = {
    "base": (
        "the public base model the target was fine-tuned from",
        "use a built-in target that has one (builtin:fashion-mnist, builtin:rotten-tomatoes-minilm)",
    ),
    "recipe": (
        "the target's training recipe (to train reference, shadow or poisoned models like it)",
        "use a built-in target that has one (builtin:fashion-mnist, builtin:cps1988-mlp, builtin:cps1988-forest)",
    ),
    "references": (
        "reference models trained with the target's recipe",
        "use a built-in target that trains them (builtin:fashion-mnist, builtin:cps1988-mlp, builtin:cps1988-forest)",
    ),
    "population": ("data from the training distribution", "add population_data to threat_model.knowledge"),
    "sensitive": ("a sensitive column in the members' table", "use a table with a sensitive attribute"),
    "model_files": ("the audited model's files", "audit a model given by target.path"),
    "unit_range": ("inputs scaled to [0, 1]", "give unnormalised inputs in [0, 1] (the model may normalise inside)"),
    "lm_references": (
        "reference language models fine-tuned from the base with the recipe",
        "add recipe:, base: and data.population, and training_recipe and population_data to the knowledge",
    ),
    "secrets": (
        "secret formats of the members' documents",
        "add memorization.secrets: [{prefix: 'my ssn is ', format: ddd-dd-dddd}] to the config",
    ),
    "probes": ("prefixes to probe", "add memorization.probes or memorization.secrets to the config"),
    "image_28": ("28x28 single-channel images", "this attack's generator is built for 28x28 images"),
}


@dataclass(frozen=True)
class Requires:
    """An attack's declared requirements.

    Args:
        access: the output it needs from the target. For an adversary's attack the threat model must
            grant it; for an auditor's check (`auditor=True`) only the target adapter must give it.
        knowledge: what the adversary must know besides the target (threat_model.knowledge).
        modalities: the data kinds it applies to ("image", "tabular", "text", "language": a causal LM's
            documents); None for any classifier's data (image, tabular or text).
        needs: what the setup must hold (keys of NEEDS).
        min_queries: the smallest query budget it can work with.
        profile: the cheapest profile it runs in ("full": too slow for the quick profile).
        auditor: run by the auditor with the target's own access (a file scan, a weight inspection,
            a white-box evaluation whose severity then follows what the threat model grants).
    """

    access: Access = Access.LABELS
    knowledge: frozenset[Knowledge] = frozenset()
    modalities: frozenset[str] | None = None
    needs: frozenset[str] = frozenset()
    min_queries: int = 0
    profile: str = "quick"
    auditor: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(self.needs - set(NEEDS)) + sorted((self.modalities or frozenset()) - set(MODALITIES))
        if unknown or self.profile not in PROFILE_ORDER:
            raise ValueError(f"unknown requirement {unknown or self.profile!r}")

    def to_dict(self) -> dict[str, object]:
        return {
            "access": self.access.name.lower(),
            "knowledge": sorted(k.value for k in self.knowledge),
            "modalities": sorted(self.modalities) if self.modalities else ["any"],
            "needs": sorted(self.needs),
            "min_queries": self.min_queries,
            "profile": self.profile,
            "auditor": self.auditor,
        }


@dataclass(frozen=True)
class Offer:
    """What a prepared audit holds, as the planner checks it against each attack's Requires."""

    threat_model: ThreatModel
    target_access: Access  # the most the target adapter can give
    modality: str
    has: frozenset[str] = field(default_factory=frozenset)
    profile: str = "quick"


@dataclass(frozen=True)
class Unmet:
    """Why an attack did not run, and the config change that would enable it."""

    reason: str
    fix: str
    other_modality: bool = False  # it applies to another kind of data (a profile section for images on text)


def unmet(name: str, req: Requires, offer: Offer) -> Unmet | None:
    """The first requirement of attack `name` that `offer` does not meet, or None when it can run."""
    tm = offer.threat_model
    # another kind of data first: a full-profile section for images is no gap in a text or LM audit
    if req.modalities is None and offer.modality == "language":
        return Unmet(f"{name} applies to classifiers; this target is a language model", "drop it from attacks", True)
    if req.modalities is not None and offer.modality not in req.modalities:
        kinds = " or ".join(sorted(req.modalities))
        return Unmet(
            f"{name} applies to {kinds} data; this target's data is {offer.modality}", "drop it from attacks", True
        )
    if PROFILE_ORDER.index(req.profile) > PROFILE_ORDER.index(offer.profile):
        return Unmet(f"{name} runs in the {req.profile} profile only", f"run with --profile {req.profile}")
    if req.access > offer.target_access:
        return Unmet(
            f"{name} needs {req.access.name.lower()} access; the target gives at most "
            f"{offer.target_access.name.lower()}",
            "audit a model whose weights you hold, or drop it from attacks",
        )
    if not req.auditor and req.access > tm.access:
        return Unmet(
            f"{name} needs {req.access.name.lower()} access; the threat model grants {tm.access.name.lower()}",
            f"set threat_model.access: {req.access.name.lower()}",
        )
    missing = sorted(k.value for k in req.knowledge - tm.knowledge)
    if missing:
        return Unmet(
            f"{name} needs knowledge {', '.join(missing)}", f"add {', '.join(missing)} to threat_model.knowledge"
        )
    for need in sorted(req.needs - offer.has):
        what, fix = NEEDS[need]
        return Unmet(f"{name} needs {what}", fix)
    if req.min_queries and tm.query_budget is not None and tm.query_budget < req.min_queries:
        return Unmet(
            f"{name} needs at least {req.min_queries} queries; the budget is {tm.query_budget}",
            f"set threat_model.query_budget to {req.min_queries} or more",
        )
    return None
