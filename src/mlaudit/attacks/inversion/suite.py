"""Model inversion of the audited image classifier as one registered attack: optimisation in pixel
space (Fredrikson et al. 2015) and generative inversion in a VAE's latent space (GMI, Zhang et al.
2020, arXiv 1911.07135), for every class it was trained on, scored by an evaluation classifier trained
on other data. With gradients access the search is exact; with probabilities only its gradients are
NES estimates from counted queries, kept within the query budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.inversion import fredrikson, gmi
from mlaudit.attacks.inversion.evaluate import InversionScore, score_reconstructions
from mlaudit.attacks.inversion.finding import inversion_finding
from mlaudit.attacks.inversion.objective import Objective, black_box, queries_per_step, white_box
from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.models.vae import train_vae
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets.base import Target
from mlaudit.threat import Access, Knowledge, ThreatModel

log = logging.getLogger(__name__)

NES_SAMPLES = 10  # antithetic pairs per black-box gradient estimate


@dataclass(frozen=True)
class InversionSettings:
    per_class: int = 4  # reconstructions per class
    steps: int = 150
    restarts: int = 4
    n_aux: int = 3000  # the adversary's unlabelled images for the generator
    vae_epochs: int = 6
    eval_epochs: int = 5


def black_box_steps(tm: ThreatModel, n_candidates: int, settings: InversionSettings) -> int:
    """Steps each black-box search takes: the setting, or fewer when the query budget is shared by the
    two searches, each also spending one scoring query per candidate at the end."""
    if tm.query_budget is None:
        return settings.steps
    return min(settings.steps, tm.query_budget // 2 // queries_per_step(n_candidates, NES_SAMPLES) - 1)


@dataclass(frozen=True)
class ModelInversion:
    """Reconstruct a representative input of each class from the classifier alone."""

    name: ClassVar[str] = "model-inversion"
    category: ClassVar[str] = "inversion"
    parts: ClassVar[tuple[str, ...]] = ("fredrikson", "gmi")  # optimisation in pixel space; generative
    requires: ClassVar[Requires] = Requires(
        Access.PROBABILITIES, modalities=frozenset({"image"}), needs=frozenset({"unit_range"}), profile="full"
    )
    settings: InversionSettings = InversionSettings()

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        """A query budget too small for 10 black-box steps per search (it depends on the class count)."""
        tm, m = inputs.threat_model, inputs.members
        if tm is None or m is None or tm.access >= Access.GRADIENTS or tm.query_budget is None:
            return None
        n = len(set(m.y.tolist())) * self.settings.per_class * self.settings.restarts
        steps = black_box_steps(tm, n, self.settings)
        if steps >= 10:
            return None
        need = 2 * 11 * queries_per_step(n, NES_SAMPLES)
        return Unmet(
            f"model-inversion: the query budget {tm.query_budget} leaves {steps} black-box steps per search, fewer "
            "than 10",
            f"set threat_model.query_budget to {need} or more",
        )

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        t0 = time.perf_counter()
        m, s = inputs.members, self.settings
        if m is None or inputs.nonmembers is None:
            raise InputError("model inversion needs members and non-members; set data.members / data.nonmembers")
        tm = inputs.threat_model or target.threat_model
        classes = np.repeat(sorted(set(m.y.tolist())), s.per_class)
        shape = tuple(m.x.shape[1:])
        evaluator, ev_name = self._evaluator(inputs, target.num_classes, shape, seed)
        objective, how, steps = self._objective(target, tm, len(classes) * s.restarts, seed)
        attacks: dict[str, Callable[[torch.Generator], torch.Tensor]] = {
            "optimisation": lambda g: fredrikson.invert(
                objective, classes.tolist(), shape, steps=steps, restarts=s.restarts, generator=g
            )
        }
        aux = _aux_images(inputs, tm, s.n_aux, np.random.default_rng(seed)) if shape == (1, 28, 28) else None
        if aux is not None:
            vae = train_vae(aux, epochs=s.vae_epochs, generator=torch.Generator().manual_seed(seed + 3))
            attacks["generative"] = lambda g: gmi.invert(
                objective, vae, classes.tolist(), steps=steps, restarts=s.restarts, generator=g
            )
        else:
            log.warning("generative inversion skipped: it needs population data (for the generator), 28x28 images")
        scores: dict[str, InversionScore] = {}
        images: dict[str, np.ndarray] = {}
        for name, invert in attacks.items():
            recon = invert(torch.Generator().manual_seed(seed + 4))
            with torch.no_grad():
                labels = evaluator(recon).argmax(1).numpy()
            images[name] = recon.numpy()
            scores[name] = score_reconstructions(images[name], classes, labels, m.x, m.y)
        gen = "VAE decoder, latent 16, on the adversary's population images" if aux is not None else None
        config = {"gradients": how, "steps": steps, "restarts": s.restarts, "evaluator": ev_name, "generator": gen}
        return inversion_finding(
            scores, images, classes, m.classes, seed=seed, threat_model=tm.to_dict(), queries=target.queries,
            config=config, duration_s=time.perf_counter() - t0, chance=1.0 / target.num_classes,
        )  # fmt: skip

    def _evaluator(self, inputs: AttackInputs, num_classes: int, shape: tuple[int, ...], seed: int) -> tuple:
        """Another architecture, trained on data the target never saw (the auditor's evaluation set)."""
        data = inputs.evaluation or inputs.nonmembers
        assert data is not None
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            evaluator = MLP(in_features=int(np.prod(shape)), num_classes=num_classes, hidden=(256,))
        cfg = TrainConfig(epochs=self.settings.eval_epochs, batch_size=64)
        train(evaluator, data.x, data.y, cfg, generator=torch.Generator().manual_seed(seed + 1))
        return evaluator.eval(), f"MLP(256) trained on {data.name} ({len(data)} examples)"

    def _objective(self, target: Target, tm: ThreatModel, n_candidates: int, seed: int) -> tuple[Objective, str, int]:
        if tm.access >= Access.GRADIENTS:
            return white_box(target.differentiable()), "white-box gradients", self.settings.steps
        objective = black_box(target, samples=NES_SAMPLES, generator=torch.Generator().manual_seed(seed + 2))
        how = f"NES gradient estimates from probabilities ({NES_SAMPLES} antithetic pairs per step)"
        return objective, how, black_box_steps(tm, n_candidates, self.settings)


def _aux_images(inputs: AttackInputs, tm: ThreatModel, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The adversary's unlabelled images from the data distribution, when the threat model grants them."""
    if Knowledge.POPULATION_DATA not in tm.knowledge:
        return None
    pool: Dataset | None = inputs.pool or inputs.population
    return None if pool is None else pool.x[rng.permutation(len(pool))[:n]]


__all__ = ["NES_SAMPLES", "InversionSettings", "ModelInversion", "black_box_steps"]
