"""Min-K%++ (Zhang et al. 2025, "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
Language Models", ICLR 2025, arXiv 2404.02936): training makes each seen token a local maximum of the
model's likelihood along its next-token distribution. Each token's log-probability is standardised by
the mean and standard deviation of log p(z) for z drawn from the model's own next-token distribution at
that position, (log p(x_t | x_<t) - mu_t) / sigma_t with mu_t = E_z[log p(z)] and sigma_t^2 = E_z[(log p(z)
- mu_t)^2]; the score is the mean of the lowest k% of these (k = 20% by default). Needs the whole
next-token distribution: logits access."""

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

_TINY = 1e-12  # a position whose distribution is a point mass has sigma 0: its token is not standardised away


def standardised(logprobs: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    return (logprobs - means) / np.maximum(stds, _TINY)  # type: ignore[no-any-return]


def min_k_plus_plus_scores(target: Any, texts: list[str], k: float) -> np.ndarray:
    st = target.token_statistics(texts)
    return np.array(
        [lowest_mean(standardised(lp, mu, sd), k) for lp, mu, sd in zip(st.logprobs, st.means, st.stds, strict=True)]
    )


@dataclass(frozen=True)
class MinKPlusPlus:
    """The mean of the lowest k% standardised token log-probabilities."""

    k: float = 0.2
    name: ClassVar[str] = "min-k-plus-plus"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.LOGITS, modalities=LANGUAGE)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        check_fraction(self.k, self.name)
        return lm_finding(
            self, target, inputs, seed=seed, score=lambda t, texts: min_k_plus_plus_scores(t, texts, self.k),
            title=f"Min-K%++ membership inference, k = {self.k:.0%} (Zhang et al. 2025)",
            signal=f"The mean of the {self.k:.0%} lowest standardised token log-probabilities", config={"k": self.k},
        )  # fmt: skip
