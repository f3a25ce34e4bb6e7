"""Secret formats a user declares for their documents (the Secret Sharer's format space R): a prefix
the secret follows and a template of its characters, e.g. "my social security number is " and
"ddd-dd-dddd". Template placeholders: d a digit, a a lowercase letter, A an uppercase letter, x a
lowercase hex digit; any other character stands for itself (a backslash makes a placeholder letter
literal)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

import numpy as np

from mlaudit.errors import ConfigError

ALPHABETS = {"d": string.digits, "a": string.ascii_lowercase, "A": string.ascii_uppercase, "x": "0123456789abcdef"}


def _parse(template: str) -> tuple[tuple[str, ...], ...]:
    """Per position of the secret, the characters it may hold (one for a literal)."""
    out: list[tuple[str, ...]] = []
    escaped = False
    for ch in template:
        if escaped:
            out.append((ch,))
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(tuple(ALPHABETS.get(ch, ch)))
    return tuple(out)


@dataclass(frozen=True)
class SecretFormat:
    prefix: str
    template: str
    positions: tuple[tuple[str, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pos = _parse(self.template)
        if not pos or all(len(p) == 1 for p in pos):
            raise ConfigError(
                f"secret format {self.template!r} has no placeholder; use d (digit), a / A (letter), x (hex), "
                "e.g. ddd-dd-dddd"
            )
        if not self.prefix.strip():
            raise ConfigError(f"secret format {self.template!r} needs the prefix it follows, e.g. 'my ssn is '")
        object.__setattr__(self, "positions", pos)

    @property
    def bits(self) -> float:
        """log2 |R|: the size of the format space."""
        return float(sum(np.log2(len(p)) for p in self.positions))

    def draw(self, rng: np.random.Generator) -> str:
        """A uniform draw from the format space."""
        return "".join(p[int(rng.integers(len(p)))] if len(p) > 1 else p[0] for p in self.positions)

    def pattern(self) -> re.Pattern[str]:
        """The prefix followed by a secret of the format (the secret captured)."""
        body = "".join(re.escape(p[0]) if len(p) == 1 else f"[{re.escape(''.join(p))}]" for p in self.positions)
        return re.compile(re.escape(self.prefix) + f"({body})(?![{re.escape(''.join(self.positions[-1]))}])")

    def found(self, texts: list[str]) -> dict[str, int]:
        """Each secret of the format that follows the prefix in the texts, with how often it does."""
        counts: dict[str, int] = {}
        pat = self.pattern()
        for t in texts:
            for m in pat.finditer(t):
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts
