"""mlaudit: measure how exposed a downloaded ML model is."""

from mlaudit.errors import (
    ConfigError,
    InputError,
    MLAuditError,
    QueryBudgetExceeded,
    ThreatModelError,
    UnsafeFileError,
)
from mlaudit.findings import Finding, Metric, Severity
from mlaudit.threat import Access, Knowledge, ThreatModel

__version__ = "0.1.0"

__all__ = [
    "Access",
    "ConfigError",
    "Finding",
    "InputError",
    "Knowledge",
    "MLAuditError",
    "Metric",
    "QueryBudgetExceeded",
    "Severity",
    "ThreatModel",
    "ThreatModelError",
    "UnsafeFileError",
    "__version__",
]
