"""Target: the only interface attacks see. Enforces the threat model's access and query budget."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from mlaudit.errors import MLAuditError, QueryBudgetExceeded, ThreatModelError
from mlaudit.threat import Access, ThreatModel


class UnsupportedAccess(MLAuditError):
    """The adapter cannot produce this output at all (e.g. gradients of a black-box API)."""


class Target:
    """A model under audit. Subclasses implement the `_` methods for what their framework offers.

    Public methods count queries (one per example) and refuse what the threat model does not
    grant. `restricted(threat_model)` gives the adversary's view with a fresh counter.
    """

    num_classes: int
    name: str = "target"
    max_access: Access = Access.WEIGHTS  # the strongest output the adapter can produce
    modality: str | None = None  # "language" for a causal LM; None: a classifier of its data's kind

    def __init__(self) -> None:
        self.threat_model = ThreatModel(access=self.max_access)
        self.queries = 0

    # -- adversary-facing API -------------------------------------------------------------
    def restricted(self, threat_model: ThreatModel) -> Target:
        view = copy.copy(self)
        view.threat_model = threat_model
        view.queries = 0
        return view

    def labels(self, x: Any) -> np.ndarray:
        self._guard(Access.LABELS, len(x))
        return self._probabilities(x).argmax(axis=1)

    def probabilities(self, x: Any) -> np.ndarray:
        self._guard(Access.PROBABILITIES, len(x))
        return self._probabilities(x)

    def logits(self, x: Any) -> np.ndarray:
        self._guard(Access.LOGITS, len(x))
        return self._logits(x)

    def gradients(self, x: Any, y: np.ndarray) -> np.ndarray:
        """Per-example gradient of the cross-entropy loss w.r.t. the input, shape of x."""
        self._guard(Access.GRADIENTS, len(x))
        return self._input_gradients(x, y)

    def gradient_norms(self, x: Any, y: np.ndarray) -> np.ndarray:
        """Per-example L2 norm of the loss gradient with respect to the parameters, shape (N,)."""
        self._guard(Access.GRADIENTS, len(x))
        return self._gradient_norms(x, y)

    def activations(self, x: Any) -> np.ndarray:
        """Per-example internal representation (the input of the final layer), shape (N, D)."""
        self._guard(Access.WEIGHTS, len(x))
        return self._activations(x)

    def weights(self) -> dict[str, np.ndarray]:
        self._guard(Access.WEIGHTS, 0)
        return self._weights()

    def differentiable(self) -> Any:
        """The model as a differentiable callable, torch (B, ...) -> logits (B, C), for white-box code
        (PGD, Neural Cleanse, inversion). Needs gradients access; calls through it are not counted, as
        an adversary holding the weights queries nobody."""
        self._guard(Access.GRADIENTS, 0)
        return self._differentiable()

    def feature_extractor(self) -> Any:
        """The model's representation (the input of its final layer) as a differentiable callable,
        torch (B, ...) -> (B, D). Needs the weights."""
        self._guard(Access.WEIGHTS, 0)
        return self._feature_extractor()

    # language models: one query per document or prompt
    def token_logprobs(self, texts: list[str]) -> list[np.ndarray]:
        """log p(x_t | x_<t) of every token of each document (the prompt log-probs an API returns)."""
        self._guard(Access.PROBABILITIES, len(texts))
        return self._token_logprobs(texts)

    def token_statistics(self, texts: list[str]) -> Any:
        """Per token: log p, and the mean and std of log p under the next-token distribution (logits)."""
        self._guard(Access.LOGITS, len(texts))
        return self._token_statistics(texts)

    def generate(self, prompts: list[str], *, max_new_tokens: int, top_k: int, generator: Any) -> list[str]:
        """One top-k sampled continuation per prompt (text only: the weakest access)."""
        self._guard(Access.LABELS, len(prompts))
        return self._generate(prompts, max_new_tokens=max_new_tokens, top_k=top_k, generator=generator)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "adapter": type(self).__name__, "num_classes": self.num_classes}

    # -- adapter hooks ----------------------------------------------------------------------
    def _logits(self, x: Any) -> np.ndarray:
        raise UnsupportedAccess(f"{type(self).__name__} cannot produce logits; use a threat model with less access")

    def _probabilities(self, x: Any) -> np.ndarray:
        z = self._logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def _input_gradients(self, x: Any, y: np.ndarray) -> np.ndarray:
        raise UnsupportedAccess(f"{type(self).__name__} cannot produce gradients; it is not a white-box model")

    def _gradient_norms(self, x: Any, y: np.ndarray) -> np.ndarray:
        raise UnsupportedAccess(
            f"{type(self).__name__} cannot produce parameter gradients; it is not a white-box model"
        )

    def _activations(self, x: Any) -> np.ndarray:
        raise UnsupportedAccess(f"{type(self).__name__} cannot produce internal activations")

    def _weights(self) -> dict[str, np.ndarray]:
        raise UnsupportedAccess(f"{type(self).__name__} has no readable weights")

    def _differentiable(self) -> Any:
        raise UnsupportedAccess(f"{type(self).__name__} is not differentiable here; it is not a white-box model")

    def _feature_extractor(self) -> Any:
        raise UnsupportedAccess(f"{type(self).__name__} exposes no feature extractor")

    def _token_logprobs(self, texts: list[str]) -> list[np.ndarray]:
        raise UnsupportedAccess(f"{type(self).__name__} is not a language model; it scores no tokens")

    def _token_statistics(self, texts: list[str]) -> Any:
        raise UnsupportedAccess(f"{type(self).__name__} is not a language model; it scores no tokens")

    def _generate(self, prompts: list[str], *, max_new_tokens: int, top_k: int, generator: Any) -> list[str]:
        raise UnsupportedAccess(f"{type(self).__name__} is not a language model; it generates no text")

    def _guard(self, need: Access, n: int) -> None:
        if need > self.max_access:
            raise UnsupportedAccess(
                f"{type(self).__name__} can give at most {self.max_access.name.lower()}, "
                f"not {need.name.lower()}; choose an attack that needs less access"
            )
        if need > self.threat_model.access:
            raise ThreatModelError(
                f"the threat model grants {self.threat_model.access.name.lower()} access, "
                f"not {need.name.lower()}; raise threat_model.access or drop the attack"
            )
        budget = self.threat_model.query_budget
        if budget is not None and self.queries + n > budget:
            raise QueryBudgetExceeded(
                f"query budget of {budget} exceeded ({self.queries} used, {n} more asked); "
                "raise threat_model.query_budget or use fewer examples"
            )
        self.queries += n
