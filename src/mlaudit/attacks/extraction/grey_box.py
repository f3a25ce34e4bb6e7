"""Grey-box extraction of a private head on a public encoder (Zanella-Beguelin et al. 2021, "Grey-box
Extraction of Natural Language Models", ICML): when a model is a public pretrained encoder (e.g. MiniLM) with
a privately trained linear head, the adversary computes each query's representation h(x) with the public
encoder and the API's probabilities give K - 1 linear equations per query in the head's parameters,
log p_k - log p_0 = (w_k - w_0) h + (b_k - b_0). D + 1 queries (D the representation's width; 385 for MiniLM)
recover the head up to the softmax's shift, so the stolen model is the public encoder with the solved head.

Queries need not be natural text: the paper uses random token sequences; here the adversary's population
texts are used first, then random sequences of their words, until D + 1 queries. Rounded or partial outputs
fall back to the cross-entropy fit (Tramer et al. 2016's approach for multiclass models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.extraction.equation_solving import fit_cross_entropy, solve_exact
from mlaudit.attacks.extraction.evaluate import extraction_finding, fidelity_data
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def text_queries(texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n distinct queries: the texts (shuffled), then random sequences of their words."""
    out = list(dict.fromkeys(texts))
    rng.shuffle(out)
    out = out[:n]
    words = [w for t in texts for w in str(t).split()] or ["the"]
    seen = set(out)
    while len(out) < n:
        q = " ".join(words[i] for i in rng.integers(0, len(words), int(rng.integers(4, 24))))
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


@dataclass(frozen=True)
class GreyBoxHead:
    """Steal a private linear head on a public encoder with D + 1 queries. Zanella-Beguelin et al. 2021.
    `queries`: how many to send (default D + 1, D the public encoder's representation width)."""

    queries: int | None = None
    name: ClassVar[str] = "grey-box-head"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES,
        knowledge=frozenset({Knowledge.BASE_MODEL, Knowledge.POPULATION_DATA}),
        modalities=frozenset({"text"}),
        needs=frozenset({"base", "population"}),
    )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out = fidelity_data(inputs, self.name)
        if inputs.base is None or inputs.population is None:
            raise InputError("grey-box-head needs the public base model (base:) and population texts (data.population)")
        encoder = inputs.base
        width = encoder.activations(list(held_out.x[:1])).shape[1]
        n = self.queries or width + 1
        stamp = Stamp(self, target, {"queries": n, "representation_width": width}, seed)
        rng = np.random.default_rng(seed)
        x = text_queries([str(t) for t in inputs.population.x], n, rng)
        p = target.probabilities(x)
        h = encoder.activations(x)
        granularity = getattr(target, "granularity", "probabilities")
        exact = granularity == "probabilities" and bool((p > 0).all())
        head = solve_exact(h, p) if exact else fit_cross_entropy(h, p)

        def predict(texts: Any) -> np.ndarray:
            return head.predict(encoder.activations(list(texts)))

        return extraction_finding(
            stamp,
            target,
            held_out,
            predict,
            queries=n,
            title="Grey-box extraction of a private head on a public encoder (Zanella-Beguelin et al. 2021)",
            how=f"the public encoder's {width}-wide representation, head solved {'exactly' if exact else 'by fit'}",
            extra=_details(exact, granularity, width),
        )


def _details(exact: bool, granularity: str, width: int) -> dict[str, Any]:
    return {"method": "exact" if exact else "cross-entropy", "granularity": granularity, "width": width}
