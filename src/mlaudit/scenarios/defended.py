"""The setup record of a defended model (issue 19's comparison): the audited setup's recipe, members,
non-members and population, with the target retrained on the members under a defended TrainConfig
(defenses.comparison.Variant) and the reference models retrained with it too, so that the attacks meet
the defended model exactly as they met the undefended one (the adversary knows the recipe, defence
included). Trained models are cached as safetensors, keyed by the variant, the data and the seed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.references import References
from mlaudit.defenses.comparison import Variant
from mlaudit.defenses.extraction import DefendedTarget
from mlaudit.errors import InputError
from mlaudit.models.cache import ModelCache
from mlaudit.models.recipe import Recipe
from mlaudit.models.train import train
from mlaudit.progress import Progress
from mlaudit.scenarios.record import AuditSetup, wants_references
from mlaudit.scenarios.references import reference_sets, train_references
from mlaudit.targets import TorchTarget


def trainable(setup: AuditSetup) -> Recipe:
    """The recipe the defended models train with, or InputError saying why there is none."""
    main = setup.inputs["main"]
    if main.recipe is None or main.members is None or main.nonmembers is None:
        raise InputError(
            "defenses: trains the compared models here with the recipe, so it needs a torch model mlaudit can "
            "build (target kind torch, or a Hugging Face image classifier with base:); remove defenses: for this target"
        )
    return main.recipe


def answered(setup: AuditSetup, variant: Variant, *, seed: int) -> AuditSetup:
    """The audited model answering through an output defence, as `mlaudit serve` would serve it (a served
    target too: its answers post-processed): the reference models are the adversary's own and stay, but
    the target's outputs on the population examples (RMIA's) are the defended ones; the threat model
    records the granularity the adversary now receives."""
    assert variant.output is not None
    target = DefendedTarget(setup.target, variant.output, seed)
    main = setup.inputs["main"]

    def through(refs: References | None) -> References | None:
        if refs is None:
            return None
        return dataclasses.replace(refs, population_target=target.rows(refs.population_target))

    inputs = dataclasses.replace(main, references=through(main.references),
                                 offline_references=through(main.offline_references))  # fmt: skip
    tm = setup.threat_model.served(target.granularity)
    return AuditSetup(target, tm, {"main": inputs}, {**setup.target_info, "defence": variant.label}, setup.data_info)


def defended_setup(
    setup: AuditSetup, variant: Variant, attacks: list[str], *, n_references: int, seed: int, cache: Path | None,
    progress: Progress | None = None, where: dict[str, Any] | None = None,
) -> AuditSetup:  # fmt: skip
    """`setup` with its target retrained under `variant` (and its references, when an attack needs them),
    or (an output defence) answering through it."""
    if variant.output is not None:
        return answered(setup, variant, seed=seed)
    recipe, main = trainable(setup), setup.inputs["main"]
    assert main.members is not None and main.nonmembers is not None
    m, n = len(main.members), len(main.nonmembers)
    parts = [main.members, main.nonmembers] + ([main.pool] if main.pool is not None else [])
    x, y = np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])
    record = dataclasses.asdict(variant.config)
    if isinstance(record.get("fit"), dict):  # the per-sample path is measured anew each run: not part of the key
        record["fit"].pop("mode", None)
    h = hashlib.sha256(json.dumps([record, seed], sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    key = f"defended-{variant.name}-{h.hexdigest()[:16]}"
    model, store = recipe.start(seed), ModelCache(cache)
    if not store.load(f"{key}-target", model):
        train(model, main.members.x, main.members.y, variant.config, generator=torch.Generator().manual_seed(seed))
        store.save(f"{key}-target", model)
    target = TorchTarget(model.eval(), num_classes=setup.target.num_classes, name=f"{variant.label} fine-tune")
    on = off = None
    if main.pool is not None and wants_references(attacks, setup.threat_model):

        def train_set(pool: np.ndarray, name: str, set_seed: int, pairs: bool) -> tuple[list[Any], np.ndarray]:
            return train_references(
                recipe.start, x, y, pool, n_train=min(m, len(pool)), n_models=n_references, halves=pairs,
                config=variant.config, seed=set_seed, cache=cache, key=f"{key}-{name}", progress=progress,
                **(where or {}),
            )  # fmt: skip

        universe = np.arange(m + n)
        on, off = reference_sets(
            train_set, x, y, universe=universe, halves=universe, population=np.arange(m + n, len(x)), seed=seed,
            target=target,
        )  # fmt: skip
    inputs = dataclasses.replace(
        main, members=dataclasses.replace(main.members, ids=np.arange(m)),
        nonmembers=dataclasses.replace(main.nonmembers, ids=np.arange(m, m + n)), references=on,
        offline_references=off, recipe=Recipe(recipe.start, variant.config),
    )  # fmt: skip
    info = {**setup.target_info, "defence": variant.label}
    return AuditSetup(target, setup.threat_model, {"main": inputs}, info, setup.data_info, [])
