"""zlib ratio (Carlini et al. 2021, "Extracting Training Data from Large Language Models", arXiv
2012.07805, section 6.1): a document's log-perplexity under the model divided by its zlib entropy
(the length in bits of its zlib compression), so that text that is simply repetitive or predictable
(low perplexity for any model) is not taken for memorised text. Score = -log-perplexity / zlib bits
(higher: more likely a member)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_common import LANGUAGE, lm_finding
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def zlib_bits(text: str) -> int:
    """The zlib entropy of a text: 8 x the length of its zlib compression (level 9) in bytes."""
    return 8 * len(zlib.compress(text.encode("utf-8"), 9))


def zlib_scores(target: Any, texts: list[str]) -> np.ndarray:
    nll_bits = [-float(lp.mean()) / np.log(2) for lp in target.token_logprobs(texts)]
    return np.array([-b / zlib_bits(t) for b, t in zip(nll_bits, texts, strict=True)])


@dataclass(frozen=True)
class ZlibRatio:
    """Log-perplexity calibrated by zlib entropy; no auxiliary data."""

    name: ClassVar[str] = "zlib"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES, modalities=LANGUAGE)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        return lm_finding(
            self, target, inputs, seed=seed, score=zlib_scores,
            title="zlib ratio membership inference (Carlini et al. 2021)",
            signal="Log-perplexity over zlib entropy",
        )  # fmt: skip
