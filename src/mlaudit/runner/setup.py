"""Turn a validated config into the setup record attacks run against: a built-in scenario's, or the
user's own target and data (the same record either way)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlaudit.config import AuditConfig
from mlaudit.data.sources import is_language_model
from mlaudit.progress import Progress
from mlaudit.scenarios import SCENARIOS, language_model, own_model
from mlaudit.scenarios.record import AuditSetup, threat_model


def build_setup(
    cfg: AuditConfig,
    attacks: list[str],
    *,
    cache: Path | None,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> AuditSetup:
    """The setup record for `cfg`; `attacks` (the selected names) say whether reference models are needed."""
    tm = threat_model(cfg)
    where = {"executor": executor, "ray_address": ray_address}
    if cfg.target.kind == "default":
        return SCENARIOS[cfg.target.scenario](cfg, attacks, tm, cache=cache, progress=progress, where=where)
    if is_language_model(cfg.target):
        setup = language_model.prepare(cfg, attacks, tm, cache=cache, progress=progress, where=where)
    else:
        setup = own_model.prepare(cfg, attacks, tm, cache=cache, progress=progress, where=where)
    return with_output(setup)


def with_output(setup: AuditSetup) -> AuditSetup:
    """A served target's output granularity (rounded, top-k, labels, log-probs) recorded in the threat
    model, so the report and every finding say what the adversary really received."""
    tm = setup.threat_model.served(str(getattr(setup.target, "granularity", "")))
    return setup if tm is setup.threat_model else dataclasses.replace(setup, threat_model=tm)
