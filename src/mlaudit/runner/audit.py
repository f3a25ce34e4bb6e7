"""The main job: config -> setup -> plan (from declared requirements) -> executor -> Report."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlaudit
from mlaudit.config import AuditConfig
from mlaudit.errors import InputError
from mlaudit.findings import Report
from mlaudit.progress import Progress
from mlaudit.runner.defences import check, compared_attacks, defence_job
from mlaudit.runner.local import SequentialExecutor
from mlaudit.runner.plan import named, plan, selected
from mlaudit.runner.setup import build_setup

log = logging.getLogger(__name__)


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
    `executor` and `ray_address` say where reference models train (scenarios.executors); they do not
    change the results. A job that raises is recorded in `Report.errors`; the others still run."""
    work = out / ".mlaudit"
    names = selected(cfg.attacks, cfg.profile)
    compared = compared_attacks(cfg) if cfg.defenses is not None else []  # the setup prepares what they need too
    setup = build_setup(
        cfg, names + [a for a in compared if a not in names], cache=work / "models", progress=progress,
        executor=executor, ray_address=ray_address,
    )
    if cfg.defenses is not None:
        check(cfg, setup)  # before any attack runs: a target the recipe cannot train is a usage error
    jobs, skipped = plan(names, setup, cfg.profile, cfg.seed, named=named(cfg.attacks))
    for s in skipped:
        log.info("skipped %s: %s (%s)", s.attack, s.reason, s.fix)
    if not jobs:  # an empty report would read as a clean model: nothing was measured
        why = f": {skipped[0].reason}; {skipped[0].fix}" if skipped else ""
        raise InputError(f"none of the selected attacks {list(cfg.attacks)} can run on this target{why}")
    if cfg.defenses is not None:  # after the attacks on the audited model: it trains and attacks more models
        where = {"executor": executor, "ray_address": ray_address}
        jobs.append(defence_job(cfg, setup, cache=work / "models", progress=progress, where=where))
    ckpt = work / "findings" / _config_key(cfg)
    findings, errors = SequentialExecutor(ckpt if resume else None).run(jobs, progress)
    return Report(
        mlaudit_version=mlaudit.__version__,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        target={**setup.target_info, "files": setup.model_files},
        threat_model=setup.threat_model.to_dict(),
        data=setup.data_info,
        findings=tuple(findings),
        config=cfg.to_dict(),
        skipped=tuple(s.to_dict() for s in skipped),
        errors=tuple(errors),
    )


def _config_key(cfg: AuditConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold OUT/.mlaudit/lock while an audit writes OUT: a second audit into the same folder is refused
    (its checkpoints and report would interleave with the first's). The OS drops the lock if we die."""
    (out / ".mlaudit").mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".mlaudit" / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise InputError(
                f"another audit (pid {holder}) is writing to {str(out)!r}; wait for it or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
