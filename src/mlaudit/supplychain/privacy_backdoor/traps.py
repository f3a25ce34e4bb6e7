"""Trap records shared by construction, reconstruction and the black-box test."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlaudit.errors import InputError


@dataclass(frozen=True)
class TrapSpec:
    """Where the traps sit in a backdoored MLP (what the attacker keeps to read the weights back).

    Trap j is unit `trap_units[j]` of the first hidden layer (`layer`), a ReLU(w.x + b) whose row
    records whatever single example first activates it; `amplifier_units[j]` in the next layer
    multiplies its output by `amplifier` so that the first activation already closes it.
    """

    architecture: str
    layer: str  # state-dict prefix of the trap layer, e.g. "features.1"
    next_layer: str  # prefix of the amplifier layer
    trap_units: tuple[int, ...]
    amplifier_units: tuple[int, ...]
    amplifier: float
    input_shape: tuple[int, ...]
    thresholds: tuple[float, ...]
    kind: str = "reconstruction"  # "reconstruction" | "membership"
    config: dict[str, Any] | None = None

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(asdict(self), indent=1))
        return p

    @classmethod
    def load(cls, path: str | Path) -> TrapSpec:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"trap spec not found: {str(p)!r}; 'mlaudit backdoor build' writes traps.json")
        try:
            d = json.loads(p.read_text())
            d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
            return cls(**d)
        except (json.JSONDecodeError, TypeError) as e:
            raise InputError(f"{str(p)!r} is not a trap spec ({e}); use the traps.json that build wrote") from None
