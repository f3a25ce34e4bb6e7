"""Train reference models on random subsets with a recorded keep matrix, checkpointing each finished
model (safetensors) so an interrupted audit resumes without retraining it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.membership.augmentations import VIEWS, augmentable, view
from mlaudit.attacks.membership.signals import softmax
from mlaudit.attacks.references import References
from mlaudit.models import MLP, TrainConfig
from mlaudit.models.cache import ModelCache
from mlaudit.models.ensemble import stackable, stacked_logits, train_ensemble
from mlaudit.models.lora import LoraSpec, merged
from mlaudit.models.text import TextModel, finetune_all
from mlaudit.progress import NullProgress, Progress
from mlaudit.scenarios.executors import FitTask, fit_all
from mlaudit.targets.base import Target
from mlaudit.targets.sklearn import as_fitted

log = logging.getLogger(__name__)


def draw_subsets(
    pool: np.ndarray, *, n_train: int, n_models: int, halves: bool, rng: np.random.Generator
) -> list[np.ndarray]:
    """Training subsets of `pool` for `n_models` reference models, each sorted.

    halves=False: independent random `n_train`-subsets (offline references, shadow models).
    halves=True: complementary halves, models 2j and 2j+1 splitting one random permutation of `pool`,
    so every example of `pool` is IN for exactly half of the models (an odd last model takes a random
    half). Online LiRA and RMIA need IN and OUT models for every example: with independent subsets,
    8 references left 17 of 5,000 candidates without one side (issue 16); `n_train` is then ignored.
    """
    if not halves:
        return [np.sort(rng.choice(pool, size=n_train, replace=False)) for _ in range(n_models)]
    subsets: list[np.ndarray] = []
    while len(subsets) < n_models:
        perm = rng.permutation(pool)
        subsets += [np.sort(perm[: len(pool) // 2]), np.sort(perm[len(pool) // 2 :])]
    return subsets[:n_models]


def train_references(
    make_model: Callable[[int], nn.Module],
    x: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    *,
    n_train: int,
    n_models: int,
    halves: bool = False,
    config: TrainConfig,
    seed: int,
    cache: Path | None,
    key: str,
    progress: Progress | None = None,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> tuple[list[nn.Module], np.ndarray]:
    """K models, model k trained on a subset of `pool` (draw_subsets); returns them and keep (K, |pool|).

    MLPs train as one vectorised ensemble in this process; other models (and every model with
    `executor="ray"`) train as one task each, in a pool of `workers` processes or on Ray (see
    runner.executors).
    """
    subsets = draw_subsets(pool, n_train=n_train, n_models=n_models, halves=halves, rng=np.random.default_rng(seed))
    keep = np.stack([np.isin(pool, s) for s in subsets])
    models = [make_model(seed * 1000 + k) for k in range(n_models)]
    store = ModelCache(cache)
    todo = [k for k in range(n_models) if not store.load(f"{key}-{k}", models[k])]
    if todo:
        log.info("training %d of %d reference models (%s)", len(todo), n_models, key)
        progress = progress or NullProgress()
        seeds = [seed * 1000 + 500 + k for k in todo]
        size = max(len(subsets[k]) for k in todo)  # n_train, or half the pool for complementary halves
        total = config.epochs * ((size + config.batch_size - 1) // config.batch_size)
        progress.start(key, f"training {len(todo)} reference models", total)
        mlps = [m for m in (models[k] for k in todo) if isinstance(m, MLP)]
        stacked = len(mlps) == len(todo) and executor == "local" and stackable(mlps, config)
        if stacked:  # one stacked run per subset size
            bar = progress
            for size in sorted({len(subsets[k]) for k in todo}):
                group = [i for i, k in enumerate(todo) if len(subsets[k]) == size]
                train_ensemble(
                    [mlps[i] for i in group], [subsets[todo[i]] for i in group], x, y, config,
                    seeds=[seeds[i] for i in group], progress=lambda d, _: bar.update(key, d),
                )  # fmt: skip
            for k in todo:
                store.save(f"{key}-{k}", models[k])
        else:  # a task each, each saved as soon as it is trained: an interruption keeps the finished ones
            tasks = [
                FitTask(k, models[k], x[subsets[k]], y[subsets[k]], config, s) for k, s in zip(todo, seeds, strict=True)
            ]
            steps = total // max(len(todo), 1)
            for i, (k, state) in enumerate(fit_all(tasks, executor=executor, workers=workers, ray_address=ray_address)):
                models[k].load_state_dict({n: torch.tensor(v) for n, v in state.items()})
                store.save(f"{key}-{k}", models[k])
                progress.update(key, (i + 1) * steps)
        progress.finish(key)
    return [m.eval() for m in models], keep


def finetune_clones(
    make_model: Callable[[int], nn.Module], tokenizer: object, x: np.ndarray, y: np.ndarray, pool: np.ndarray, *,
    n_train: int, n_models: int, halves: bool, config: TrainConfig, max_length: int, seed: int, cache: Path | None,
    key: str, progress: Progress | None = None, lora: LoraSpec | None = None,
) -> tuple[list[TextModel], np.ndarray]:  # fmt: skip
    """Reference text classifiers: `make_model(seed)` (the public base with a fresh head) fine-tuned
    with the recipe on draw_subsets of `pool` (texts), one after another in this process (a transformer
    is too large to train several at once on CPU); with `lora`, as LoRA adapters merged once trained;
    each saved when trained (safetensors)."""
    subsets = draw_subsets(pool, n_train=n_train, n_models=n_models, halves=halves, rng=np.random.default_rng(seed))
    store = ModelCache(cache)
    progress = progress or NullProgress()
    progress.start(key, f"fine-tuning {n_models} reference models", n_models)
    models = []
    for k, sub in enumerate(subsets):
        model = make_model(seed * 1000 + k)
        if not store.load(f"{key}-{k}", model):
            log.info("fine-tuning reference model %d of %d (%s)", k + 1, n_models, key)
            g = torch.Generator().manual_seed(seed * 1000 + 500 + k)
            if lora is None:
                finetune_all(model, tokenizer, x[sub], y[sub], config, max_length=max_length, generator=g)
            else:
                adapted = lora.wrap(model, task="SEQ_CLS")
                finetune_all(adapted, tokenizer, x[sub], y[sub], config, max_length=max_length, generator=g)
                model = merged(adapted).eval()
            store.save(f"{key}-{k}", model)
        models.append(TextModel(model, tokenizer, max_length=max_length))
        progress.update(key, k + 1)
    progress.finish(key)
    return models, np.stack([np.isin(pool, s) for s in subsets])


def refit_clones(
    estimator: Any, x: np.ndarray, y: np.ndarray, pool: np.ndarray, *, n_train: int, n_models: int, halves: bool,
    seed: int,
) -> tuple[list[Any], np.ndarray]:  # fmt: skip
    """Reference models for a scikit-learn estimator: unfitted clones with its own parameters (its recipe),
    every random_state (a pipeline's steps' too) set from `seed`, fitted on draw_subsets of `pool`."""
    from sklearn.base import clone

    rng = np.random.default_rng(seed)
    subsets = draw_subsets(pool, n_train=n_train, n_models=n_models, halves=halves, rng=rng)
    models = []
    for k, sub in enumerate(subsets):
        m = clone(estimator)
        states = {p: seed * 1000 + k for p in m.get_params(deep=True) if p.endswith("random_state")}
        models.append(m.set_params(**states).fit(as_fitted(estimator, x[sub]), y[sub]))
    return models, np.stack([np.isin(pool, s) for s in subsets])


def _probs(models: list[Any], x: np.ndarray) -> np.ndarray:
    """(K, N, C) probabilities, softmaxed in float64 from the logits so confident outputs keep their
    resolution (float32 softmax rounds p_y to exactly 1 and LiRA's phi saturates). Fitted
    scikit-learn estimators give their predict_proba."""
    if not any(isinstance(m, nn.Module) for m in models):
        return np.stack([np.asarray(m.predict_proba(as_fitted(m, x)), dtype=np.float64) for m in models])
    if all(isinstance(m, MLP) for m in models):
        logits = stacked_logits(models, x)  # type: ignore[arg-type]
    else:
        with torch.no_grad():
            xt = torch.as_tensor(x, dtype=torch.float32)
            logits = np.stack([m(xt).numpy() for m in models])
    return softmax(logits.astype(np.float64))


def record(
    models: list[Any],
    keep: np.ndarray,
    ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    pop_x: np.ndarray,
    pop_y: np.ndarray,
    target: Target,
    *,
    views: bool = False,
) -> References:
    """Reference outputs on the audited examples (and, with `views`, on LiRA's augmented views of
    them, for images) and on population examples none of them trained on."""
    names = VIEWS if views and augmentable(x) else ()
    return References(
        ids=ids,
        labels=y,
        probabilities=_probs(models, x),
        keep=keep,
        population_probabilities=_probs(models, pop_x),
        population_target=target.probabilities(pop_x),
        population_labels=pop_y,
        views=names,
        view_probabilities=np.stack([_probs(models, view(x, v)) for v in names]) if names else None,
    )


# trains one set of reference models on subsets of `pool` (indices into the setup's arrays), complementary
# halves when the last argument is True (draw_subsets): (pool, key suffix, seed, halves) -> (models, keep over `pool`)
TrainSet = Callable[[np.ndarray, str, int, bool], tuple[list[Any], np.ndarray]]


def reference_sets(
    train_set: TrainSet,
    x: np.ndarray,
    y: np.ndarray,
    *,
    universe: np.ndarray,
    halves: np.ndarray,
    population: np.ndarray,
    seed: int,
    target: Target,
    views: bool = False,
) -> tuple[References, References]:
    """The one reference-set builder every setup uses: online references on complementary halves of
    `halves` (members + non-members: each audited example is IN for exactly half of them and OUT for the
    others, as the target trained on one such set), offline references on population rows only, and each
    model's outputs on the audited `universe` and on population examples `z` none of them trained on (RMIA's)."""
    pop = np.random.default_rng(seed + 2).permutation(population)
    n_z = min(1000, len(pop) // 2)
    z, offline_pool = np.sort(pop[:n_z]), np.sort(pop[n_z:])
    online, keep_halves = train_set(halves, "online-pairs", seed + 3, True)
    offline, _ = train_set(offline_pool, "offline", seed + 4, False)
    keep = np.zeros((len(online), len(universe)), bool)
    keep[:, np.searchsorted(universe, halves)] = keep_halves
    args = (universe, x[universe], y[universe], x[z], y[z], target)
    on = record(online, keep, *args, views=views)
    off = record(offline, np.zeros((len(offline), len(universe)), bool), *args, views=views)
    target.queries = 0  # the auditor's own queries for the population outputs are not the adversary's
    return on, off
