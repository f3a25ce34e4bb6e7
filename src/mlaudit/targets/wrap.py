"""One entry point for the library: whatever model a user holds becomes a Target (counted queries,
enforced budget and access) before any attack sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from mlaudit.errors import InputError
from mlaudit.targets.base import Target
from mlaudit.targets.blackbox import CallableTarget
from mlaudit.targets.sklearn import SklearnTarget
from mlaudit.targets.torch import TorchTarget


def as_target(model: Any, *, num_classes: int | None = None, output: str = "probabilities") -> Target:
    """A Target as it is; a torch module (logits out) as a TorchTarget; a fitted scikit-learn classifier
    as a SklearnTarget; any other callable on numpy inputs as a CallableTarget whose `output` says
    what it returns ("probabilities", "logits" or "labels")."""
    if isinstance(model, Target):
        return model
    if isinstance(model, nn.Module):
        return TorchTarget(model, num_classes=_classes(model, num_classes))
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        return SklearnTarget(model)
    if callable(model):
        fn: Callable[[Any], Any] = model
        return CallableTarget(fn, output=output, num_classes=_classes(model, num_classes))
    raise InputError(
        f"cannot audit a {type(model).__name__}: pass a Target, a torch module, a fitted scikit-learn "
        "classifier or a function from inputs to probabilities/logits/labels"
    )


def _classes(model: Any, num_classes: int | None) -> int:
    if num_classes is None or num_classes < 2:
        raise InputError(
            f"num_classes={num_classes!r} for a {type(model).__name__}; pass the classifier's class count "
            "(as_target(model, num_classes=10))"
        )
    return num_classes
