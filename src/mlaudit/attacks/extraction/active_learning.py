"""Label-only extraction by active learning (Chandrasekaran et al. 2020, "Exploring Connections Between
Active Learning and Model Extraction", USENIX Security): the adversary labels its own pool through the API
(labels only) but chooses what to ask. After a random first batch, each round trains the substitute (the
target's recipe) on the labels so far and queries the pool points where it is least certain (smallest
margin between its two most probable classes: uncertainty sampling), so the budget goes to the decision
boundary instead of to points any model labels alike. The curve records fidelity after each round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.extraction.evaluate import extraction_finding, fidelity_curve, fidelity_data, target_labels
from mlaudit.attacks.extraction.knockoff_nets import (
    agreement,
    predictor,
    query_pool,
    thief_requires,
    train_substitute,
)
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


def margins(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Top-1 minus top-2 probability of the substitute on each row (small: uncertain)."""
    with torch.no_grad():
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        p = torch.cat([torch.softmax(model(xt[i : i + batch_size]), 1) for i in range(0, len(xt), batch_size)])
    top = torch.topk(p, 2, dim=1).values
    return (top[:, 0] - top[:, 1]).numpy()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ActiveLearning:
    """Steal a classifier from its labels, choosing each round's queries by the substitute's uncertainty.
    Chandrasekaran et al. 2020. `budget` queries in `rounds` rounds (the first random)."""

    budget: int = 1000
    rounds: int = 5
    epochs: int = 20
    name: ClassVar[str] = "active-learning"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = thief_requires(Access.LABELS)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out, pool = fidelity_data(inputs, self.name), query_pool(inputs, self.name)
        if inputs.recipe is None:
            raise InputError(f"{self.name} trains its substitute with the target's recipe; add recipe:")
        budget = min(self.budget, len(pool))
        if budget < 2 or self.rounds < 1:
            raise InputError(f"{self.name} needs a budget of at least 2 queries and 1 round")
        stamp = Stamp(self, target, {"budget": budget, "rounds": self.rounds, "epochs": self.epochs}, seed)
        rng, truth = np.random.default_rng(seed), target_labels(target, held_out.x)
        per_round = [budget // self.rounds + (1 if r < budget % self.rounds else 0) for r in range(self.rounds)]
        chosen = rng.permutation(len(pool))[: per_round[0]]
        labels = target.labels(pool.x[chosen])
        curve, model = [], None
        for r in range(self.rounds):
            model = train_substitute(inputs.recipe, pool.x[chosen], np.eye(target.num_classes)[labels],
                                     epochs=self.epochs, seed=seed)  # fmt: skip
            curve.append((len(chosen), agreement(model, held_out.x, truth)))
            if r + 1 < self.rounds and per_round[r + 1] > 0:
                rest = np.setdiff1d(np.arange(len(pool)), chosen)
                pick = rest[np.argsort(margins(model, pool.x[rest]), kind="stable")[: per_round[r + 1]]]
                chosen = np.concatenate([chosen, pick])
                labels = np.concatenate([labels, target.labels(pool.x[pick])])
        assert model is not None
        f = extraction_finding(
            stamp, target, held_out, predictor(model), queries=len(chosen), title=_TITLE,
            how=f"labels of {pool.name}, {self.rounds} rounds of uncertainty sampling",
            extra={"fidelity by round": ", ".join(f"{n}: {v:.3f}" for n, v in curve)}, labels=truth,
        )  # fmt: skip
        return dataclasses.replace(f, artifacts=(*f.artifacts, fidelity_curve(curve, self.name)))


_TITLE = "Label-only extraction by active learning (Chandrasekaran et al. 2020)"
