"""Attacks by family, one file per paper; each declares its requirements (mlaudit.requirements) and runs
through the Target only. The registry of every attack is mlaudit.registry."""

from mlaudit.attacks.base import Attack, AttackInputs, Stamp, as_demonstration

__all__ = ["Attack", "AttackInputs", "Stamp", "as_demonstration"]
