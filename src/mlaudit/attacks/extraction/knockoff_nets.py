"""Knockoff Nets (Orekondy et al. 2019, "Knockoff Nets: Stealing Functionality of Black-Box Models", CVPR):
query the victim with natural inputs from the adversary's own pool (the "random" sampling strategy) and
train a knockoff on the returned probability vectors with the soft cross-entropy -sum_k y_k log q_k. The
knockoff starts from the public base model when the adversary has one (the paper fine-tunes a pretrained
network), else from the target's architecture, and trains with the target's recipe (optimizer, learning rate,
batch size) for `epochs`.

Fidelity is measured at each query budget in `budgets` (one knockoff per budget, the queries of a smaller budget
a prefix of a larger one's), giving the fidelity-against-queries curve; the headline is the largest budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.extraction.evaluate import extraction_finding, fidelity_curve, fidelity_data, target_labels
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.models.recipe import Recipe
from mlaudit.models.train import TrainConfig
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge


def soft_train(
    model: nn.Module,
    x: np.ndarray,
    targets: np.ndarray,
    config: TrainConfig,
    *,
    epochs: int,
    generator: torch.Generator,
) -> nn.Module:
    """Train `model` on (x, targets) with the soft cross-entropy; `targets` (N, K) probability rows (one-hot
    rows for labels). The recipe's optimizer, learning rate, schedule and batch size; no augmentation."""
    xt, qt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    cfg = dataclasses.replace(config, epochs=epochs, fit=None)
    opt = cfg.make_optimizer(params)
    schedule = cfg.make_schedule(opt)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            opt.zero_grad()
            loss = -(qt[idx] * torch.log_softmax(model(xt[idx]), dim=1)).sum(1).mean()
            loss.backward()
            opt.step()
        if schedule is not None:
            schedule.step()
    return model.eval()


def predictor(model: nn.Module, batch_size: int = 512) -> Any:
    def predict(x: Any) -> np.ndarray:
        with torch.no_grad():
            xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
            return torch.cat([model(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)]).argmax(1).numpy()

    return predict


def train_substitute(recipe: Recipe, x: np.ndarray, targets: np.ndarray, *, epochs: int, seed: int) -> nn.Module:
    """The recipe's starting model (seed + 1) trained on soft targets, batches drawn from `seed`."""
    model = recipe.start(seed + 1)
    return soft_train(model, x, targets, recipe.config, epochs=epochs, generator=torch.Generator().manual_seed(seed))


def agreement(model: nn.Module, x: Any, labels: np.ndarray) -> float:
    """The share of `x` on which the substitute predicts the target's `labels`."""
    return float((predictor(model)(x) == labels).mean())


def thief_requires(access: Access, *, profile: str = "quick", auditor: bool = False) -> Requires:
    """What a thief that trains a substitute on its own pool needs: the pool (population data) and the
    target's recipe, on images or tables."""
    return Requires(
        access,
        knowledge=frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}),
        modalities=frozenset({"image", "tabular"}),
        needs=frozenset({"recipe", "population"}),
        profile=profile,
        auditor=auditor,
    )


def query_pool(inputs: AttackInputs, name: str) -> Dataset:
    pool = inputs.pool or inputs.population
    if pool is None:
        raise InputError(f"{name} queries the adversary's own natural inputs; set data.population")
    return pool


@dataclass(frozen=True)
class KnockoffNets:
    """Steal a classifier's function with natural queries and its probability vectors. Orekondy et al. 2019.
    `budgets`: query counts to measure (fidelity against queries); `epochs`: the knockoff's training."""

    budgets: tuple[int, ...] = (100, 1000)
    epochs: int = 20
    labels_only: ClassVar[bool] = False
    name: ClassVar[str] = "knockoff-nets"
    category: ClassVar[str] = "extraction"
    requires: ClassVar[Requires] = thief_requires(Access.PROBABILITIES)
    title: ClassVar[str] = "Knockoff Nets extraction (Orekondy et al. 2019)"

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        held_out, pool = fidelity_data(inputs, self.name), query_pool(inputs, self.name)
        if inputs.recipe is None:
            raise InputError(f"{self.name} trains a knockoff with the target's recipe; add recipe: (or base:)")
        budgets = sorted({min(b, len(pool)) for b in self.budgets})
        if not budgets or budgets[0] < 1:
            raise InputError(f"{self.name} budgets must be positive query counts, got {list(self.budgets)}")
        stamp = Stamp(self, target, {"budgets": budgets, "epochs": self.epochs, "pool": pool.name}, seed)
        order = np.random.default_rng(seed).permutation(len(pool))[: budgets[-1]]
        x = pool.x[order]
        answers = self.answers(target, x)
        truth = target_labels(target, held_out.x)
        curve, model = [], None
        for b in budgets:
            model = train_substitute(inputs.recipe, x[:b], answers[:b], epochs=self.epochs, seed=seed)
            curve.append((b, agreement(model, held_out.x, truth)))
        assert model is not None
        f = extraction_finding(
            stamp,
            target,
            held_out,
            predictor(model),
            queries=budgets[-1],
            title=self.title,
            how=f"natural inputs from {pool.name}, {'labels' if self.labels_only else 'probabilities'}, "
            f"a knockoff trained {self.epochs} epochs",
            extra={"fidelity by budget": ", ".join(f"{b}: {v:.3f}" for b, v in curve)},
            labels=truth,
        )
        return dataclasses.replace(f, artifacts=(*f.artifacts, fidelity_curve(curve, self.name)))

    def answers(self, target: Target, x: np.ndarray) -> np.ndarray:
        """What the victim returns for x: probability rows, or one-hot rows of its labels."""
        if not self.labels_only:
            return target.probabilities(x)
        labels = target.labels(x)
        return np.eye(target.num_classes)[labels]  # type: ignore[no-any-return]
