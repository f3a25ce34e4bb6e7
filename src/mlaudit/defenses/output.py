"""Output defences of a served classifier: what the API returns instead of the full probability vector.

Each transforms a (N, K) probability matrix into the response the server sends:
- `top_k`: the k most probable classes and their probabilities (the rest withheld);
- `label`: the predicted class only;
- `round`: probabilities rounded to `decimals` places (Tramer et al. 2016, s.7);
- `noise`: additive Gaussian noise of std `scale`, clipped and renormalised (the argmax may change);
- `reverse_sigmoid`: the deceptive perturbation of Lee et al. 2019 ("Defending against NN model stealing
  attacks using deceptive perturbations"): y' = normalise(y - beta * (s(gamma * s^-1(y)) - 1/2)), s the sigmoid,
  which keeps the top-1 class for small beta and poisons the gradients a stealer fits to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlaudit.errors import ConfigError

DEFENCES = ("none", "top_k", "label", "round", "noise", "reverse_sigmoid")


@dataclass(frozen=True)
class OutputDefence:
    kind: str = "none"
    k: int = 1  # top_k
    decimals: int = 2  # round
    scale: float = 0.01  # noise: std of the additive Gaussian
    beta: float = 0.2  # reverse_sigmoid
    gamma: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in DEFENCES:
            raise ConfigError(f"unknown output defence {self.kind!r}; use one of: {', '.join(DEFENCES)}")
        if self.k < 1:
            raise ConfigError(f"defence k must be at least 1, got {self.k}")
        if not 0 <= self.decimals <= 12:
            raise ConfigError(f"defence decimals must be 0-12, got {self.decimals}")
        if self.scale < 0 or self.beta < 0 or self.gamma <= 0:
            raise ConfigError("defence scale and beta must be >= 0 and gamma > 0")

    @property
    def granularity(self) -> str:
        """What a client receives: probabilities, top_k, rounded, or labels."""
        return {"top_k": "top_k", "round": "rounded", "label": "labels"}.get(self.kind, "probabilities")

    def to_dict(self) -> dict[str, Any]:
        keep = {"top_k": ("k",), "round": ("decimals",), "noise": ("scale",), "reverse_sigmoid": ("beta", "gamma")}
        return {"kind": self.kind, **{f: getattr(self, f) for f in keep.get(self.kind, ())}}


@dataclass(frozen=True)
class Response:
    """A defended response: `labels` (N,) always; `probabilities` (N, K) for the full kinds; for top-k,
    `top_classes` / `top_probabilities` (N, k), most probable first."""

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    top_classes: np.ndarray | None = None
    top_probabilities: np.ndarray | None = None


def defend(p: np.ndarray, d: OutputDefence, rng: np.random.Generator) -> Response:
    """The response to a batch whose true probabilities are `p` (rows summing to 1)."""
    p = np.asarray(p, dtype=np.float64)
    if d.kind == "label":
        return Response(p.argmax(1))
    if d.kind == "top_k":
        k = min(d.k, p.shape[1])
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return Response(order[:, 0], top_classes=order, top_probabilities=np.take_along_axis(p, order, 1))
    if d.kind == "round":
        q = np.round(p, d.decimals)
    elif d.kind == "noise":
        q = np.clip(p + rng.normal(0.0, d.scale, p.shape), 0.0, None)
        q = q / np.maximum(q.sum(1, keepdims=True), 1e-12)
    elif d.kind == "reverse_sigmoid":
        q = reverse_sigmoid(p, d.beta, d.gamma)
    else:
        q = p
    return Response(q.argmax(1), probabilities=q)


def reverse_sigmoid(p: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    """Lee et al. 2019, eq. (3): r = beta * (s(gamma * s^-1(y)) - 1/2), y' = (y - r) / sum(y - r)."""
    y = np.clip(p, 1e-7, 1 - 1e-7)
    inv = np.log(y / (1 - y))
    r = beta * (1.0 / (1.0 + np.exp(-gamma * inv)) - 0.5)
    q = np.clip(y - r, 0.0, None)
    return q / np.maximum(q.sum(1, keepdims=True), 1e-12)  # type: ignore[no-any-return]
