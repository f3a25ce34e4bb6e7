"""Membership inference: signals from the target -> scores (pure) -> metrics."""

from mlaudit.attacks.membership.loss import LOSS, loss_scores

__all__ = ["LOSS", "loss_scores"]
