"""Target adapter for a fitted scikit-learn classifier (an estimator object, never a pickle file)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlaudit.errors import InputError
from mlaudit.targets.base import Target
from mlaudit.threat import Access


class SklearnTarget(Target):
    """Probabilities from `predict_proba`; logits as log-probabilities (defined up to a constant)."""

    max_access = Access.LOGITS

    def __init__(self, estimator: Any, *, name: str = "sklearn-estimator") -> None:
        super().__init__()
        if not hasattr(estimator, "predict_proba"):
            raise InputError(
                f"{type(estimator).__name__} has no predict_proba; use a probabilistic classifier "
                "(or wrap its predict in CallableTarget with output='labels')"
            )
        if not hasattr(estimator, "classes_"):
            raise InputError(f"{type(estimator).__name__} is not fitted; call fit before auditing it")
        self.estimator = estimator
        self.num_classes = len(estimator.classes_)
        self.name = name

    def _probabilities(self, x: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(np.asarray(x)), dtype=np.float64)

    def _logits(self, x: Any) -> np.ndarray:
        return np.log(np.clip(self._probabilities(x), 1e-300, None))
