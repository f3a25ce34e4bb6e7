"""The penultimate-layer representation the data-filtering defences work on."""

from mlaudit.models.features import penultimate

__all__ = ["penultimate"]
