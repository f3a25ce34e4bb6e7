"""Target adapter for a black-box callable (a local function or a client for a remote API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlaudit.errors import InputError
from mlaudit.targets.base import Target
from mlaudit.threat import Access

_OUTPUTS = {"labels": Access.LABELS, "probabilities": Access.PROBABILITIES, "logits": Access.LOGITS}


class CallableTarget(Target):
    """`fn(batch) -> array`: labels (B,), probabilities (B, K) or logits (B, K), as `output` says.

    The adapter can give no more than `fn` returns: a labels-only API supports label-only attacks.
    """

    def __init__(self, fn: Callable[[Any], Any], *, output: str, num_classes: int, name: str = "black-box") -> None:
        super().__init__()
        if output not in _OUTPUTS:
            raise InputError(f"output must be one of {', '.join(_OUTPUTS)}, got {output!r}")
        self.fn = fn
        self.output = output
        self.max_access = _OUTPUTS[output]
        self.threat_model = self.threat_model.__class__(access=self.max_access)
        self.num_classes = num_classes
        self.name = name

    def _call(self, x: Any) -> np.ndarray:
        out = np.asarray(self.fn(x))
        want = (len(x),) if self.output == "labels" else (len(x), self.num_classes)
        if out.shape != want:
            raise InputError(f"black-box returned shape {out.shape} for {len(x)} inputs; expected {want}")
        return out

    def labels(self, x: Any) -> np.ndarray:
        if self.output == "labels":
            self._guard(Access.LABELS, len(x))
            return self._call(x).astype(np.int64)
        return super().labels(x)

    def _probabilities(self, x: Any) -> np.ndarray:
        if self.output == "probabilities":
            return self._call(x).astype(np.float64)
        return super()._probabilities(x)

    def _logits(self, x: Any) -> np.ndarray:
        return self._call(x).astype(np.float64)
