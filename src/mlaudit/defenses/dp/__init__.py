"""Differential privacy as a defence: DP-SGD training (Opacus) and the estimator of empirical audits."""

from mlaudit.defenses.dp.audit import epsilon_lower_bound
from mlaudit.defenses.dp.dpsgd import dp_sgd
from mlaudit.defenses.dp.one_run import OneRunAudit, one_run_audit

__all__ = ["OneRunAudit", "dp_sgd", "epsilon_lower_bound", "one_run_audit"]
