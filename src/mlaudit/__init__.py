"""mlaudit: measure how exposed a downloaded ML model is.

The public names below load on first use, so that `mlaudit scan` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "mlaudit.errors",
    "InputError": "mlaudit.errors",
    "MLAuditError": "mlaudit.errors",
    "QueryBudgetExceeded": "mlaudit.errors",
    "ThreatModelError": "mlaudit.errors",
    "UnsafeFileError": "mlaudit.errors",
    "Finding": "mlaudit.findings",
    "Metric": "mlaudit.findings",
    "Severity": "mlaudit.findings",
    "Access": "mlaudit.threat",
    "Knowledge": "mlaudit.threat",
    "ThreatModel": "mlaudit.threat",
    "AttackInputs": "mlaudit.attacks.base",
    "Dataset": "mlaudit.data.dataset",
    "as_target": "mlaudit.targets.wrap",
    "get_attack": "mlaudit.registry",
    "run_attack": "mlaudit.registry",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlaudit' has no attribute {name!r}")
