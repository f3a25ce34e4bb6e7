"""Min-K% Prob (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models", arXiv
2310.16789): an unseen document holds a few outlier tokens of low probability; a seen one fewer.
Score = the mean log-probability of the k% least likely tokens of the document (k = 20% by default,
the paper's choice)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_common import LANGUAGE, check_fraction, lm_finding, lowest_mean
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def min_k_scores(target: Any, texts: list[str], k: float) -> np.ndarray:
    return np.array([lowest_mean(lp, k) for lp in target.token_logprobs(texts)])


@dataclass(frozen=True)
class MinK:
    """The mean of the lowest k% token log-probabilities."""

    k: float = 0.2
    name: ClassVar[str] = "min-k"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES, modalities=LANGUAGE)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        check_fraction(self.k, self.name)
        return lm_finding(
            self, target, inputs, seed=seed, score=lambda t, texts: min_k_scores(t, texts, self.k),
            title=f"Min-K% Prob membership inference, k = {self.k:.0%} (Shi et al. 2024)",
            signal=f"The mean log-probability of the {self.k:.0%} least likely tokens", config={"k": self.k},
        )  # fmt: skip
