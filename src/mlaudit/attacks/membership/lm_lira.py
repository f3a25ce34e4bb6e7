"""Offline LiRA (Carlini et al. 2022, arXiv 2112.03570) on a fine-tuned language model, with reference
models that start where the target started: copies of the public base fine-tuned by the user's recipe
on population documents (none of the audited ones). Per document, the signal is its mean token
log-probability; the references' values give its OUT distribution, a Gaussian with the document's own
mean and one variance shared by all documents (the paper's fixed variance, advised below about 64
references), and the score is log P(OUT <= target's value). With one reference the variance is that
of the target-minus-reference differences over the documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_common import LANGUAGE, lm_finding
from mlaudit.attacks.membership.lm_loss import mean_logprob
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def lira_offline_scores(target_values: np.ndarray, reference_values: np.ndarray) -> np.ndarray:
    """(N,) target signals, (K, N) reference signals -> (N,) log P(OUT <= target), fixed variance."""
    mu = reference_values.mean(0)
    if len(reference_values) > 1:
        sd = float(np.sqrt(((reference_values - mu) ** 2).sum() / (reference_values.size - reference_values.shape[1])))
    else:
        sd = float(np.std(target_values - mu))
    return stats.norm.logcdf(target_values, mu, max(sd, 1e-12))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LMLiRAOffline:
    """Offline LiRA against reference LMs fine-tuned from the base on population documents."""

    name: ClassVar[str] = "lm-lira-offline"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}),
        modalities=LANGUAGE,
        needs=frozenset({"lm_references"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        refs = inputs.lm_reference_scores
        if not refs:
            raise InputError("lm-lira-offline needs reference LMs: recipe:, base:, data.population")
        k = len(next(iter(refs.values())))

        def score(t: Any, texts: list[str]) -> np.ndarray:
            missing = [d for d in texts if d not in refs]
            if missing:
                raise InputError(f"no reference score for {len(missing)} document(s), e.g. {missing[0][:40]!r}")
            return lira_offline_scores(mean_logprob(t, texts), np.stack([refs[d] for d in texts], axis=1))

        return lm_finding(
            self, target, inputs, seed=seed, score=score,
            title=f"LiRA offline on a language model, {k} reference LMs fine-tuned from the base (Carlini et al. 2022)",
            signal="The mean log-probability against the references'", config={"references": k},
        )  # fmt: skip
