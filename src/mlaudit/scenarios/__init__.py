"""The built-in targets: each prepares the same setup record (scenarios.record.AuditSetup) a user's config
does, and ships a config (scenarios/configs/NAME.yaml, `mlaudit audit --config builtin:NAME`)."""

from collections.abc import Callable

from mlaudit.scenarios import cps1988, fashion_mnist, rotten_tomatoes
from mlaudit.scenarios.record import AuditSetup

# name -> prepare(cfg, attacks, threat_model, *, cache, progress, where) -> AuditSetup
SCENARIOS: dict[str, Callable[..., AuditSetup]] = {
    "fashion-mnist": fashion_mnist.prepare,
    "cps1988-mlp": cps1988.prepare,
    "cps1988-forest": cps1988.prepare,
    "rotten-tomatoes-minilm": rotten_tomatoes.prepare,
}

__all__ = ["SCENARIOS", "AuditSetup"]
