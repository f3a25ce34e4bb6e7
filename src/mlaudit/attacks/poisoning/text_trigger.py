"""A text backdoor trigger: a rare word inserted at a random position (Kurita et al. 2020,
arXiv 2004.06660; Chen et al. 2021 "BadNL", arXiv 2006.01043), with the label flipped to the target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlaudit.attacks.poisoning.base import Poisoned, choose


@dataclass(frozen=True)
class TextTrigger:
    target_label: int = 1
    word: str = "cf"  # rare in natural text, one WordPiece token in BERT vocabularies

    def apply(self, texts: list[str] | np.ndarray, rng: np.random.Generator) -> list[str]:
        out = []
        for t in texts:
            words = str(t).split()
            words.insert(int(rng.integers(0, len(words) + 1)), self.word)
            out.append(" ".join(words))
        return out

    def poison(self, texts: np.ndarray, y: np.ndarray, rate: float, rng: np.random.Generator) -> Poisoned:
        idx = choose(y, rate, rng, pool=np.flatnonzero(y != self.target_label))
        xp = np.array(texts, dtype=object, copy=True)
        xp[idx] = self.apply(list(texts[idx]), rng)
        yp = np.array(y, copy=True)
        yp[idx] = self.target_label
        return Poisoned(xp, yp, idx, self.target_label)
