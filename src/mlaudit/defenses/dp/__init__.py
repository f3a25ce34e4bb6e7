"""Differential privacy as a defence: DP-SGD training (Opacus) and the estimator of empirical audits."""

from mlaudit.defenses.dp.audit import epsilon_lower_bound
from mlaudit.defenses.dp.dpsgd import dp_sgd

__all__ = ["dp_sgd", "epsilon_lower_bound"]
