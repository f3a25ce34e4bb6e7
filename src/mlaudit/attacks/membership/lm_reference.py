"""Reference-model attack on a fine-tuned language model with the public base as the reference (Carlini
et al. 2021, arXiv 2012.07805, "comparing to other neural language models"; the likelihood ratio of
Mireshghallah et al. 2022, arXiv 2203.03929): what fine-tuning raised is what the model learnt from its
data. Score = the document's mean token log-probability under the target minus under the base (the log
of the likelihood ratio per token). The open-source advantage: the reference costs no training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_common import LANGUAGE, lm_finding
from mlaudit.attacks.membership.lm_loss import mean_logprob
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


@dataclass(frozen=True)
class LMBaseReference:
    """Target log-likelihood calibrated per document by the public base model's."""

    name: ClassVar[str] = "lm-base-reference"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES, frozenset({Knowledge.BASE_MODEL}), modalities=LANGUAGE, needs=frozenset({"base"})
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        base = inputs.base
        if base is None or base.modality != "language":
            raise InputError("the lm-base-reference attack needs the public base language model (base:)")
        if base.num_classes != target.num_classes:
            raise InputError(
                f"the base has a vocabulary of {base.num_classes} tokens, the target {target.num_classes}; "
                "give the base the target was fine-tuned from (same tokenizer)"
            )

        def score(t: Any, texts: list[str]) -> np.ndarray:
            return mean_logprob(t, texts) - mean_logprob(base, texts)

        return lm_finding(
            self, target, inputs, seed=seed, score=score,
            title="Base-model reference attack on a language model (Carlini et al. 2021)",
            signal="Log-likelihood gained over the public base", config={"base": base.name},
        )  # fmt: skip
