"""The defence comparison job (config `defenses:`): the configured membership attacks run on the
audited model and on every defended fine-tune (scenarios.defended), each model's held-out accuracy is
measured, each DP model gets the gradient-canary audit, and one finding compares them
(defenses.comparison). One job: an interrupted audit resumes it from its checkpoint, its trained models
from the cache."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.config import AuditConfig
from mlaudit.defenses.comparison import DefenceRow, Variant, comparison_finding, variants
from mlaudit.defenses.dp.gradient_canary import gradient_canary_audit
from mlaudit.defenses.dp.input_canaries import input_canary_audit
from mlaudit.defenses.dp.paths import choose_mode
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.progress import NullProgress, Progress
from mlaudit.registry import expand, get_attack
from mlaudit.runner.plan import Job, plan
from mlaudit.scenarios import fashion_mnist
from mlaudit.scenarios.defended import defended_setup, trainable
from mlaudit.scenarios.own_model import N_REFERENCES
from mlaudit.scenarios.record import AuditSetup


def defence_job(cfg: AuditConfig, setup: AuditSetup, *, cache: Path | None, progress: Progress | None,
                where: dict[str, Any]) -> Job:  # fmt: skip
    kw = {"cfg": cfg, "setup": setup, "cache": cache, "progress": progress, "where": where}
    return Job("defences", "defence comparison (defenses:)", compare_defences, kw)


def compared_attacks(cfg: AuditConfig) -> list[str]:
    """defenses.attacks expanded, each a membership attack (the comparison reads TPR at 1% FPR and AUC)."""
    assert cfg.defenses is not None
    names = expand(list(cfg.defenses.attacks))
    other = [a for a in names if get_attack(a).category != "membership"]
    if other:
        raise InputError(f"defenses.attacks must be membership attacks; {other[0]!r} is not (e.g. [loss, lira])")
    return names


def check(cfg: AuditConfig, setup: AuditSetup) -> None:
    """What the comparison needs, checked before any attack runs: a recipe the defended models train with,
    and a DP delta below 1 / members (a larger one allows publishing an example outright)."""
    if cfg.defenses is not None and cfg.defenses.trains:
        trainable(setup)
    members = setup.inputs["main"].members
    dp = cfg.defenses.dp if cfg.defenses is not None else None
    if dp is not None and dp.delta is not None and members is not None and dp.delta >= 1 / len(members):
        raise InputError(
            f"defenses.dp.delta {dp.delta} is not below 1 / {len(members)} members; use 1e-5 or remove it (default)"
        )


def compare_defences(cfg: AuditConfig, setup: AuditSetup, *, cache: Path | None, progress: Progress | None,
                     where: dict[str, Any]) -> Finding:  # fmt: skip
    """The comparison finding: the undefended row first, then one row per variant."""
    started, progress = time.perf_counter(), progress or NullProgress()
    assert cfg.defenses is not None
    attacks = compared_attacks(cfg)
    config = trainable(setup).config if cfg.defenses.trains else None
    members = setup.inputs["main"].members
    assert members is not None
    rows = [_row("undefended", "undefended (the audited model)", setup, attacks, cfg)]
    todo = variants(cfg.defenses, config, n_train=len(members), mode=_mode(cfg, setup))
    progress.start("defences", f"training and attacking {len(todo)} defended models", len(todo))
    own = cfg.references or N_REFERENCES[cfg.profile]
    n_refs = fashion_mnist.N_REFERENCES if cfg.target.kind == "default" else own  # as many as the audit's own
    left_out = []
    for i, v in enumerate(todo):
        ds = defended_setup(setup, v, attacks, n_references=n_refs, seed=cfg.seed, cache=cache, progress=progress,
                            where=where)  # fmt: skip
        try:
            rows.append(_audited(cfg, setup, v, _row(v.name, v.label, ds, attacks, cfg)))
        except InputError as e:  # e.g. label-only answers: no score-based attack runs on them
            left_out.append(f"{v.label}: {e}")
        progress.update("defences", i + 1)
    progress.finish("defences")
    tm = setup.threat_model.to_dict()
    record = {**dataclasses.asdict(cfg.defenses), "not_compared": left_out}
    return comparison_finding(rows, threat_model=tm, config=record, seed=cfg.seed, started=started)


def _mode(cfg: AuditConfig, setup: AuditSetup) -> str:
    """The per-sample gradient path for every DP training of the comparison, measured once on the
    recipe's starting model and a batch of the members (defenses.dp.paths)."""
    if cfg.defenses is None or cfg.defenses.dp is None:
        return "auto"
    recipe, members = trainable(setup), setup.inputs["main"].members
    assert members is not None
    b = slice(0, min(len(members), recipe.config.batch_size))
    x, y = members.x[b], members.y[b]
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    norm = cfg.defenses.dp.max_grad_norm
    mode, _ = choose_mode(lambda: recipe.start(cfg.seed), xt, yt, max_grad_norm=norm, steps=2)
    return mode


def _row(name: str, label: str, setup: AuditSetup, attacks: list[str], cfg: AuditConfig) -> DefenceRow:
    """The attacks on one model (the main pair only) and its accuracy on the non-members (never trained on)."""
    jobs, skipped = plan(attacks, setup, cfg.profile, cfg.seed)
    found = [j() for j in jobs if not j.kwargs.get("control")]
    if not found:
        why = f": {skipped[0].reason}; {skipped[0].fix}" if skipped else ""
        raise InputError(f"none of defenses.attacks {attacks} can run on {label}{why}")
    nonmembers = setup.inputs["main"].nonmembers
    assert nonmembers is not None
    predicted = np.asarray(setup.target.probabilities(nonmembers.x)).argmax(1)
    setup.target.queries = 0  # the auditor's evaluation, not an adversary's queries
    return DefenceRow(
        name, label, float((predicted == nonmembers.y).mean()),
        {f.attack: {"tpr": f.metrics["tpr_at_0.01_fpr"], "auc": f.metrics["auc"]} for f in found},
    )  # fmt: skip


def _audited(cfg: AuditConfig, setup: AuditSetup, v: Variant, row: DefenceRow) -> DefenceRow:
    """A DP row with its epsilons: the gradient-canary audit of the same recipe (the accountant's epsilon
    of its runs, and the audited lower bound), or the target epsilon when the audit is off."""
    dp = cfg.defenses.dp if cfg.defenses is not None else None
    if v.epsilon is None or dp is None:
        return row
    if not dp.audit_canaries:
        return dataclasses.replace(row, epsilon=v.epsilon, delta=v.delta)
    recipe, members = trainable(setup), setup.inputs["main"].members
    assert members is not None and v.delta is not None
    weights = sum(p.numel() for p in recipe.start(cfg.seed).parameters() if p.requires_grad)
    mode = getattr(v.config.fit, "mode", "auto")
    audit = gradient_canary_audit(
        recipe.start, members.x, members.y, recipe.config, epsilon=v.epsilon, delta=v.delta,
        max_grad_norm=dp.max_grad_norm, runs=dp.audit_runs, canaries=min(dp.audit_canaries, weights), seed=cfg.seed,
        mode=mode, accountant=dp.accountant,
    )  # fmt: skip
    one = None
    pool = setup.inputs["main"].pool
    if dp.input_canaries and pool is not None:
        found, _ = input_canary_audit(
            recipe.start, members.x, members.y, pool.x, pool.y, recipe.config, num_classes=setup.target.num_classes,
            epsilon=v.epsilon, delta=v.delta, canaries=min(dp.input_canaries, len(pool)), seed=cfg.seed, mode=mode,
            max_grad_norm=dp.max_grad_norm, accountant=dp.accountant,
        )  # fmt: skip
        one = found.epsilon
    eps, low = audit.epsilon_accountant, audit.epsilon_lower
    return dataclasses.replace(row, epsilon=eps, delta=v.delta, epsilon_audited=low, epsilon_one_run=one,
                               epsilon_one_run_gradient=audit.epsilon_one_run)  # fmt: skip
