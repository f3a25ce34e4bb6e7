"""The built-in default audit: pretrain on public data, fine-tune on a "private" split, audit it.

Public data: Fashion-MNIST classes 5-9 (sandal .. ankle boot). Private data: classes 0-4 (T-shirt ..
coat), fine-tuned with a fresh head, long enough to fit the private examples exactly, as a practitioner
adapting a downloaded checkpoint would. Falls back to scikit-learn's digits when the Debian package
dataset-fashion-mnist is not installed. Trained weights are cached as safetensors in the output
folder, keyed by the settings, so a resumed audit does not train again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig
from mlaudit.data import Dataset, digits, fashion_mnist, fashion_mnist_available, split
from mlaudit.models import TrainConfig, accuracy, build, train
from mlaudit.models.cache import ModelCache
from mlaudit.models.recipe import Recipe
from mlaudit.progress import NullProgress, Progress
from mlaudit.scenarios.record import AuditSetup, scenario_data, wants_references, wants_views
from mlaudit.scenarios.references import reference_sets, train_references
from mlaudit.targets import TorchTarget
from mlaudit.threat import Knowledge, ThreatModel

log = logging.getLogger(__name__)

PUBLIC_CLASSES = (5, 6, 7, 8, 9)
N_REFERENCES = 4  # per set (online and offline): 8 reference trainings keep the full (CNN) profile under 10 min


@dataclass(frozen=True)
class DefaultSettings:
    dataset: str
    architecture: str
    n_public: int
    n_members: int
    pretrain: TrainConfig
    finetune: TrainConfig


def settings(profile: str, dataset: str) -> DefaultSettings:
    small = dataset == "digits"  # 1,797 images: about 900 per half
    n_pub, n_mem = (800, 300) if small else (10_000, 1000)
    if profile == "quick":
        return DefaultSettings(
            dataset, "mlp", n_pub, n_mem, TrainConfig(epochs=3, batch_size=128), TrainConfig(epochs=100, batch_size=64)
        )
    return DefaultSettings(
        dataset,
        "cnn",
        2 * n_pub if not small else n_pub,
        n_mem,
        TrainConfig(epochs=3, batch_size=128),
        TrainConfig(epochs=60, batch_size=64),
    )


@dataclass
class DefaultScenario:
    base: nn.Module
    finetuned: nn.Module
    parts: dict[str, Dataset]
    split_record: dict[str, Any]
    utility: dict[str, float]
    settings: DefaultSettings
    train_set: Dataset
    population: np.ndarray  # indices of held-out private-distribution examples no model trained on
    key: str  # identifies the settings (cache file names)


def load_default_data() -> tuple[Dataset, Dataset]:
    if fashion_mnist_available():
        return fashion_mnist("train"), fashion_mnist("test")
    log.warning("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); using sklearn digits")
    d = digits()
    return d, d


def build_default(profile: str, *, seed: int, cache: Path | None, progress: Progress | None = None) -> DefaultScenario:
    progress = progress or NullProgress()
    train_set, test_set = load_default_data()
    s = settings(profile, "digits" if train_set.name == "sklearn/digits" else "fashion-mnist")
    public = np.isin(train_set.y, PUBLIC_CLASSES)
    pub = split(train_set, {"public": s.n_public}, seed=seed, pool=np.flatnonzero(public))
    n = s.n_members
    n_ctl = n if s.dataset == "fashion-mnist" else 100
    # digits has about 900 private images: 300 members, 200 non-members, 2 x 100 control, and about 200
    # left as population data (reference models and RMIA's z samples need some)
    n_non = n if s.dataset == "fashion-mnist" else 200
    priv = split(
        train_set,
        {"members": n, "nonmembers": n_non, "control_a": n_ctl, "control_b": n_ctl},
        seed=seed + 1,
        pool=np.flatnonzero(~public),
    )
    parts = {k: priv.part(train_set, k) for k in priv.indices}
    shape = tuple(train_set.x.shape[1:])
    g = torch.Generator().manual_seed(seed)
    key = hashlib.sha256(json.dumps([asdict(s), seed], sort_keys=True, default=str).encode()).hexdigest()[:16]

    with torch.random.fork_rng():  # weight init draws from torch's global RNG: seed it locally only
        torch.manual_seed(seed)
        base = build(s.architecture, shape, train_set.num_classes)
        finetuned = build(s.architecture, shape, train_set.num_classes)
    store = ModelCache(cache)
    if store.has(f"default-{key}-finetuned") and store.load(f"default-{key}-base", base):
        store.load(f"default-{key}-finetuned", finetuned)
    else:
        pub_x, pub_y = train_set.x[pub.indices["public"]], train_set.y[pub.indices["public"]]
        _train(base, pub_x, pub_y, s.pretrain, g, progress, "pretrain", f"pretraining {s.architecture} on public data")
        finetuned.load_state_dict(base.state_dict())
        with torch.random.fork_rng():
            torch.manual_seed(seed + 1)
            head = finetuned.head
            assert isinstance(head, nn.Linear)
            head.reset_parameters()  # a fresh head for the private task
        m = parts["members"]
        _train(finetuned, m.x, m.y, s.finetune, g, progress, "finetune", "fine-tuning on private data")
        store.save(f"default-{key}-base", base)
        store.save(f"default-{key}-finetuned", finetuned)
    test_priv = ~np.isin(test_set.y, PUBLIC_CLASSES)
    utility = {
        "base_public_test_accuracy": accuracy(base, test_set.x[~test_priv], test_set.y[~test_priv]),
        "finetuned_private_test_accuracy": accuracy(finetuned, test_set.x[test_priv], test_set.y[test_priv]),
        "finetuned_member_accuracy": accuracy(finetuned, parts["members"].x, parts["members"].y),
    }
    record = {"public": pub.to_dict(), "private": priv.to_dict()}
    used = np.concatenate(list(priv.indices.values()))
    population = np.setdiff1d(np.flatnonzero(~public), used)
    return DefaultScenario(base, finetuned, parts, record, utility, s, train_set, population, key)


def _train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    g: torch.Generator,
    progress: Progress,
    key: str,
    description: str,
) -> None:
    total = cfg.epochs * ((len(x) + cfg.batch_size - 1) // cfg.batch_size)
    progress.start(key, description, total)
    train(model, x, y, cfg, generator=g, progress=lambda done, _: progress.update(key, done))
    progress.finish(key)


def references(
    sc: DefaultScenario,
    *,
    n_models: int,
    seed: int,
    cache: Path | None,
    target: Any,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    views: bool = False,
) -> tuple[Any, Any]:
    """Online references (fine-tuned from the public base on random subsets of the audited examples,
    the target's recipe) and offline references (on population data only), as References records."""

    ts, s = sc.train_set, sc.settings
    universe = np.sort(np.concatenate([sc.parts[k].ids for k in ("members", "nonmembers", "control_a", "control_b")]))
    halves = np.sort(np.concatenate([sc.parts["members"].ids, sc.parts["nonmembers"].ids]))
    n_train = len(sc.parts["members"])

    def train_set(pool: np.ndarray, name: str, set_seed: int, pairs: bool) -> tuple[list[Any], np.ndarray]:
        # the small digits fallback has fewer spare examples than a training set: offline references get what
        # there is
        return train_references(
            lambda model_seed: from_base(sc, model_seed), ts.x, ts.y, pool, n_train=min(n_train, len(pool)),
            n_models=n_models, halves=pairs, config=s.finetune, seed=set_seed, cache=cache, key=f"ref-{sc.key}-{name}",
            progress=progress, executor=executor, ray_address=ray_address,
        )  # fmt: skip

    return reference_sets(
        train_set, ts.x, ts.y, universe=universe, halves=halves, population=sc.population, seed=seed,
        target=target, views=views,
    )  # fmt: skip


def from_base(sc: DefaultScenario, seed: int) -> nn.Module:
    """The target's starting point: a copy of the public base with a fresh head drawn from `seed`."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        m = build(sc.settings.architecture, tuple(sc.train_set.x.shape[1:]), sc.train_set.num_classes)
        m.load_state_dict(sc.base.state_dict())
        head = m.head
        assert isinstance(head, nn.Linear)
        head.reset_parameters()
    return m


def recipe(sc: DefaultScenario) -> Recipe:
    """The target's training recipe: the public base with a fresh head, fine-tuned with the scenario's
    settings (what a poisoner's victim would run, and what the adversary's surrogate follows)."""
    return Recipe(lambda seed: from_base(sc, seed), sc.settings.finetune)


def population_pool(sc: DefaultScenario) -> Dataset:
    """Held-out private-distribution examples no model trained on: the adversary's pool."""
    return sc.train_set.subset(sc.population, "population pool (private distribution, never trained on)")


def prepare(
    cfg: AuditConfig,
    attacks: list[str],
    tm: ThreatModel,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    where: dict[str, Any] | None = None,
) -> AuditSetup:
    """The setup record: the fine-tuned model, the public base, the recipe, members / non-members /
    control pair, and (when a selected attack needs them) 4 online and 4 offline reference models."""
    sc = build_default(cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    head = sc.finetuned.head
    assert isinstance(head, nn.Linear)
    n = int(head.out_features)
    target = TorchTarget(sc.finetuned, num_classes=n, name=f"default fine-tuned {sc.settings.architecture}")
    base = TorchTarget(sc.base, num_classes=n, name="public base model")
    p = sc.parts
    pop = p["control_a"] if Knowledge.POPULATION_DATA in tm.knowledge else None
    on = off = None
    if wants_references(attacks, tm):
        on, off = references(
            sc, n_models=N_REFERENCES, seed=cfg.seed, cache=cache, target=target, progress=progress,
            views=wants_views(attacks), **(where or {}),
        )  # fmt: skip
    base_view = base if Knowledge.BASE_MODEL in tm.knowledge else None
    files = ModelCache(cache).files("default-*")
    evaluation = fashion_mnist("test") if sc.settings.dataset == "fashion-mnist" else None
    common: dict[str, Any] = {
        "recipe": recipe(sc), "pool": population_pool(sc), "evaluation": evaluation, "model_files": tuple(files),
        "budget": cfg.profile, "threat_model": tm, "cache": cache,
    }  # fmt: skip
    inputs = {
        "main": AttackInputs(p["members"], p["nonmembers"], pop, base_view, on, off, **common),
        "control": AttackInputs(p["control_a"], p["control_b"], None, base_view, on, off, **common),
    }
    info = {
        **target.describe(),
        "kind": "default",
        "dataset": sc.settings.dataset,
        "story": "pretrained on public classes, fine-tuned with a fresh head on a private split",
        "utility": sc.utility,
        "training": {"pretrain": vars(sc.settings.pretrain), "finetune": vars(sc.settings.finetune)},
    }
    data_info = scenario_data(sc.settings.dataset, cfg.seed, sc.split_record, p)
    return AuditSetup(target, tm, inputs, info, data_info, files)
