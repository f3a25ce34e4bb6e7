"""LOSS for language models (Yeom et al. 2018, arXiv 1709.01604; the perplexity baseline of Carlini et
al. 2021, arXiv 2012.07805): a document the model was trained on has a lower loss. Score = the mean
token log-probability of the document (minus its log-perplexity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_common import LANGUAGE, lm_finding
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def mean_logprob(target: Any, texts: list[str]) -> np.ndarray:
    return np.array([float(lp.mean()) for lp in target.token_logprobs(texts)])


@dataclass(frozen=True)
class LMLoss:
    """Threshold on the document's mean token log-probability; no auxiliary data."""

    name: ClassVar[str] = "lm-loss"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES, modalities=LANGUAGE)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        return lm_finding(
            self, target, inputs, seed=seed, score=mean_logprob,
            title="LOSS membership inference on a language model (Yeom et al. 2018)",
            signal="The mean token log-probability",
        )  # fmt: skip
