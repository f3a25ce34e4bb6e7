"""The planner: which registered attacks run on a prepared setup, and why the others do not.

A profile is data: the registered entries the word `profile` in the config's `attacks` stands for
(the default `attacks` is [profile, loss]), and the effort (budget) the suites spend. An attack runs
when its declared requirements hold on the setup (requirements.unmet); every one that does not is
listed in the report with the reason and the config change that enables it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.findings import CATEGORIES, Finding
from mlaudit.registry import REGISTRY, expand, get_attack, view
from mlaudit.requirements import Offer, Unmet, unmet
from mlaudit.scenarios.record import AuditSetup

QUICK_SECTIONS = ("file-scan", "backdoor-detect", "evasion", "word-substitution", "backdoor-scan", "poisoning-demo")
PROFILES: dict[str, tuple[str, ...]] = {
    "quick": QUICK_SECTIONS,
    "full": QUICK_SECTIONS
    + (
        "backdoor-demo-minilm",
        "model-inversion",
        "attribute-inference",
        "attribute-demo",
        "lm-membership-demo",
        "canary-exposure-demo",
        "extraction-demo",
        "property-demo",
    ),
}
CONTROLLED = frozenset({"membership", "attribute"})  # families also run on the control pair (expected at chance)


@dataclass(frozen=True)
class Job:
    """One unit of work that yields one Finding. `fn` is a top-level function and `kwargs` plain
    values, so that a process-pool or Ray executor could ship the job unchanged."""

    id: str
    description: str
    fn: Callable[..., Finding]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Finding:
        return self.fn(**self.kwargs)


@dataclass(frozen=True)
class Skipped:
    """A selected attack the planner did not run."""

    attack: str
    reason: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"attack": self.attack, "reason": self.reason, "fix": self.fix}


def selected(attacks: tuple[str, ...], profile: str) -> list[str]:
    """The config's attacks (names, families, `all`, or `profile`: the profile's sections), each once.
    Nothing is added that the config does not name: `attacks: [loss]` runs LOSS alone."""
    return expand([w for word in attacks for w in (PROFILES[profile] if word == "profile" else (word,))])


def named(attacks: tuple[str, ...]) -> frozenset[str]:
    """The entries the config names one by one (not through `profile`, a family or `all`): only these
    are listed as skipped when they apply to another kind of data (a language model's audit with
    `attacks: [membership]` does not list every classifier attack as a gap)."""
    return frozenset(expand([w for w in attacks if w not in ("profile", "all") and not _family_only(w)]))


def _family_only(word: str) -> bool:
    """A family's name that is not also an attack's ("evasion" is both: named, it is the attack)."""
    return word in CATEGORIES and word not in REGISTRY


def offer(setup: AuditSetup, profile: str) -> Offer:
    """What the setup holds, as requirements are checked against it."""
    i = setup.inputs["main"]
    data = [d for d in (i.members, i.nonmembers) if d is not None]
    modality = setup.target.modality or (data[0].kind if data else "tabular")
    has = {
        "base": i.base is not None,
        "recipe": i.recipe is not None,
        "references": i.references is not None or i.offline_references is not None,
        "population": i.population is not None,
        "sensitive": bool(data) and data[0].sensitive is not None,
        "model_files": bool(i.model_files),
        "secrets": bool(i.secrets),
        "lm_references": bool(i.lm_reference_scores),
        "probes": bool(i.probes or i.secrets),
        "unit_range": modality == "image" and all(_in_unit_range(d.x) for d in data),
    }
    return Offer(
        setup.threat_model, setup.target.max_access, modality, frozenset(k for k, v in has.items() if v), profile
    )


def _in_unit_range(x: Any) -> bool:
    a = np.asarray(x)
    return a.ndim == 4 and float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def why_not(name: str, setup: AuditSetup, available: Offer) -> Unmet | None:
    """The reason `name` cannot run on `setup` (which offers `available`), from its declared requirements
    and its own check."""
    attack = get_attack(name)
    found = unmet(name, attack.requires, available)
    check = getattr(attack, "unmet", None)
    return found if found is not None or check is None else check(setup.inputs["main"])


def plan(
    names: list[str], setup: AuditSetup, profile: str, seed: int, *, named: frozenset[str] | None = None
) -> tuple[list[Job], list[Skipped]]:
    """A job per runnable attack and pair (controlled families also on the control pair); the rest skipped.
    An entry the config did not name one by one (not in `named`) and that applies to another kind of
    data is left out silently: evasion on text is not a gap in a text audit."""
    jobs, skipped = [], []
    available = offer(setup, profile)  # once: it scans the data's value range
    for name in names:
        reason = why_not(name, setup, available)
        if reason is not None:
            if not (reason.other_modality and named is not None and name not in named):
                skipped.append(Skipped(name, reason.reason, reason.fix))
            continue
        attack = get_attack(name)
        # the control pair is for attacks on the audited model; a demonstration or an auditor's check has none
        controlled = attack.category in CONTROLLED and not attack.requires.auditor
        pairs = setup.inputs if controlled else {"main": setup.inputs["main"]}
        for pair, inputs in pairs.items():
            job_id = name if pair == "main" else f"{name}-{pair}"
            desc = f"{name} on {inputs.members.name if inputs.members else '?'}"
            kw = {
                "name": name,
                "view": view(setup.target, setup.threat_model, auditor=attack.requires.auditor),
                "inputs": inputs,
                "seed": seed,
            }
            jobs.append(Job(job_id, desc, run_attack, {**kw, "id": job_id, "control": pair == "control"}))
    return jobs, skipped


def run_attack(name: str, view: Any, inputs: AttackInputs, seed: int, id: str, control: bool = False) -> Finding:
    """One job: the attack sees only its view of the target, with a fresh query count.

    A control job runs the same attack on two disjoint non-member sets: its result should sit at
    chance, and a deviation means the evaluation, not the model, leaks.
    """
    finding = get_attack(name).run(view.restricted(view.threat_model), inputs, seed=seed)
    finding = dataclasses.replace(finding, attack=name)  # the registered name the config selects (lira-offline)
    if not control:
        return dataclasses.replace(finding, id=id)
    return dataclasses.replace(
        finding,
        id=id,
        title=f"{finding.title}: control, two disjoint non-member sets",
        summary=f"Control (expected at chance): {finding.summary}",
    )


def check_unique(jobs: list[Job]) -> None:
    seen: set[str] = set()
    for j in jobs:
        if j.id in seen:
            raise ValueError(f"duplicate job id {j.id!r} in the audit plan")
        seen.add(j.id)
