"""Attacks by family; each declares the access and knowledge it needs."""

from mlaudit.attacks.base import Attack, AttackInputs
from mlaudit.attacks.registry import REGISTRY, check_permitted, describe, get_attack

__all__ = ["REGISTRY", "Attack", "AttackInputs", "check_permitted", "describe", "get_attack"]
