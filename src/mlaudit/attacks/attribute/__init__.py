"""Attribute inference: a training record's sensitive column recovered from the model's outputs."""

from mlaudit.attacks.attribute.fredrikson import AttributeInference

__all__ = ["AttributeInference"]
