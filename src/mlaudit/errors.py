"""One root exception; every message says what was wrong, the value received and the fix."""


class MLAuditError(Exception):
    """Root of every error mlaudit raises on purpose. The CLI turns it into one line and exit 2."""


class InputError(MLAuditError):
    """A file, dataset or argument the user gave is missing, empty or malformed."""


class ConfigError(InputError):
    """The audit configuration is invalid (unknown key, wrong type, bad value)."""


class UnsafeFileError(InputError):
    """A model file would run code if loaded (pickle-based) or is not a format mlaudit loads safely."""


class ThreatModelError(MLAuditError):
    """An attack asks for access or knowledge the configured threat model does not grant."""


class QueryBudgetExceeded(ThreatModelError):
    """A target was queried beyond the threat model's query budget."""
