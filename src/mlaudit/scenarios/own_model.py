"""The user's own model from their config: target (a built-in architecture, their own network factory
or a Hugging Face folder), the public base it came from, the training recipe, members / non-members /
population, and reference models trained with that recipe when a selected attack needs them. The
same setup record the built-in scenarios prepare, so every family applies where its requirements hold."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig, RecipeConfig, ServeFileConfig, TargetConfig
from mlaudit.data import Dataset
from mlaudit.data.checks import check_disjoint
from mlaudit.data.formats import existing
from mlaudit.data.sources import load_sources
from mlaudit.errors import InputError
from mlaudit.models import build
from mlaudit.models.factory import UserFit, build_from_factory, load_factory
from mlaudit.models.lora import LoraSpec
from mlaudit.models.recipe import Recipe
from mlaudit.models.train import TrainConfig, check_modules, freeze_except
from mlaudit.progress import Progress
from mlaudit.scenarios.checks import check_fit
from mlaudit.scenarios.record import AuditSetup, control_halves, describe, model_files, wants_references
from mlaudit.scenarios.references import finetune_clones, reference_sets, refit_clones, train_references
from mlaudit.targets import SklearnTarget, Target, TorchTarget
from mlaudit.targets.completions import CompletionsTarget
from mlaudit.targets.http import HttpSettings, OipTarget
from mlaudit.targets.huggingface import image_classifier, is_image_classifier
from mlaudit.targets.onnx import OnnxTarget
from mlaudit.targets.torch import state_mismatch
from mlaudit.threat import Knowledge, ThreatModel

N_REFERENCES = {"quick": 4, "full": 8}  # per set (online and offline)


def prepare(
    cfg: AuditConfig,
    attacks: list[str],
    tm: ThreatModel,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    where: dict[str, Any] | None = None,
) -> AuditSetup:
    """The setup record for a user's model (see the module doc)."""
    target, files, make = own_target(cfg)
    assert cfg.data.members is not None and cfg.data.nonmembers is not None  # checked by AuditConfig
    members, nonmembers, population = _load_data(cfg, target)
    rng = np.random.default_rng(cfg.seed)
    checked = {**check_disjoint(members, nonmembers, rng=rng), **check_fit(target, members, rng=rng)}
    base = _base(cfg, make)
    torch_base = base if isinstance(base, TorchTarget) else None
    recipe = _recipe(cfg.recipe, make, torch_base) if cfg.recipe is not None and make is not None else None
    if cfg.recipe is not None and cfg.recipe.augment and members.kind != "image":
        raise InputError(f"recipe.augment {list(cfg.recipe.augment)} is for images; this data is {members.kind}")
    if cfg.recipe is not None and cfg.recipe.trainable:  # before any training: they must be modules of the model
        model = make() if make is not None else getattr(target, "model", None)
        if model is not None:
            check_modules(model, cfg.recipe.trainable)
    on = off = None
    lora = lora_spec(cfg, target)  # LoRA settings of the references (the recipe's, or the adapter's own)
    # an estimator refits a clone of itself; a text classifier fine-tunes copies of its base
    trainable = recipe is not None or isinstance(target, SklearnTarget) or _fine_tunes(cfg, target)
    if trainable and population is not None and wants_references(attacks, tm):
        on, off = _references(
            cfg, recipe, lora, members, nonmembers, population, target, cache, progress, where or {}
        )  # fmt: skip
    knows = Knowledge.POPULATION_DATA in tm.knowledge
    common: dict[str, Any] = {
        "model_files": tuple(files), "budget": cfg.profile, "threat_model": tm, "cache": cache, "recipe": recipe,
        "pool": population, "base": base if base is not None and Knowledge.BASE_MODEL in tm.knowledge else None,
        "references": on, "offline_references": off,
    }  # fmt: skip
    inputs = {"main": AttackInputs(members, nonmembers, population if knows else None, **common)}
    if cfg.data.control:
        a, b = control_halves(nonmembers, cfg.seed)
        inputs["control"] = AttackInputs(a, b, population if knows else None, **common)
    data_info = {"members": describe(members), "nonmembers": describe(nonmembers), "seed": cfg.seed, "checks": checked}
    if population is not None:
        data_info["population"] = describe(population)
    info = {**target.describe(), "kind": cfg.target.kind}
    if cfg.recipe is not None:
        info["recipe"] = dataclasses.asdict(cfg.recipe)
        if lora is not None and cfg.recipe.lora is None:
            info["recipe"]["lora"] = {**dataclasses.asdict(lora), "read_from": "the adapter's adapter_config.json"}
    return AuditSetup(target, tm, inputs, info, data_info, files)


def own_target(cfg: AuditConfig | ServeFileConfig) -> tuple[Target, list[str], Callable[[], nn.Module] | None]:
    """The audited model, its files, and (torch) how to build an empty one of its architecture."""
    t = cfg.target
    if t.kind == "http":
        return http_target(t), [], None
    path = existing(t.path or "", "model")
    if t.kind == "huggingface" and is_image_classifier(path):  # an image classifier: a torch module of images
        files = model_files(path)
        image = TorchTarget(image_classifier(path, t.num_classes), num_classes=t.num_classes, name=path.name)
        if cfg.base is None:
            return image, files, None
        base_path = existing(cfg.base.path, "base model")

        def make() -> nn.Module:  # the public base with a head of the target's classes
            return image_classifier(base_path, t.num_classes, base=True)

        with torch.random.fork_rng():
            problem = state_mismatch(image.module.state_dict(), make().state_dict())
        if problem:
            raise InputError(
                f"base {str(base_path)!r} is not the target's architecture ({problem}); give the checkpoint "
                "the model was fine-tuned from"
            )
        return image, files, make
    if t.kind == "huggingface":
        from mlaudit.targets.huggingface import HuggingFaceTarget

        base = cfg.base.path if cfg.base is not None else None
        hf = HuggingFaceTarget(
            path, num_labels=t.num_classes, max_length=t.max_length or 64, seed=cfg.seed, trained_head=True, base=base
        )
        base_dir = Path(base) if hf.adapter and base is not None else None  # an adapter loads its base too
        return hf, model_files(path, base_dir), None
    if t.kind == "sklearn":
        target = SklearnTarget.from_skops(path, trusted=t.trusted)
        if target.num_classes != t.num_classes:
            raise InputError(
                f"{str(path)!r} has {target.num_classes} classes ({target.estimator.classes_.tolist()}) but "
                f"target.num_classes is {t.num_classes}; set it to {target.num_classes}"
            )
        return target, [str(path)], None
    if t.kind == "onnx":
        return OnnxTarget(path, num_classes=t.num_classes, output=t.output), [str(path)], None
    make = _architecture(cfg)  # its first call raises the config's errors (bad arguments, no module returned)
    return TorchTarget.from_file(make(), path, num_classes=t.num_classes), [str(path)], make


def _api_key(t: TargetConfig) -> str | None:
    """The served model's key, read from the environment variable the config names (never the config)."""
    key = os.environ.get(t.api_key_env) if t.api_key_env else None
    if t.api_key_env and not key:
        raise InputError(f"target.api_key_env names {t.api_key_env!r}, which is unset or empty; export the API key")
    return key


def http_target(t: TargetConfig) -> Target:
    """A classifier served with the Open Inference Protocol v2."""
    settings = HttpSettings(rate_limit=t.rate_limit, concurrency=t.concurrency)
    return OipTarget(str(t.url), str(t.model_name), api_key=_api_key(t), num_classes=t.num_classes, settings=settings)


def completions_target(t: TargetConfig) -> Target:
    """A language model served with the OpenAI-compatible completions API."""
    settings = HttpSettings(rate_limit=t.rate_limit, concurrency=t.concurrency, batch_size=16)
    return CompletionsTarget(str(t.url), str(t.model_name), api_key=_api_key(t), settings=settings)


def _architecture(cfg: AuditConfig | ServeFileConfig) -> Callable[[], nn.Module]:
    t = cfg.target
    if t.factory is not None:
        factory, spec = load_factory(t.factory), t.factory
        return lambda: build_from_factory(factory, dict(t.factory_args), spec)
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in t.architecture_args.items()}

    def make() -> nn.Module:
        try:
            return build(t.architecture, tuple(t.input_shape), t.num_classes, **args)
        except TypeError as e:
            what = f"bad target.architecture_args {t.architecture_args!r} for {t.architecture!r}: {e}"
            raise InputError(what) from None

    return make


def _base(cfg: AuditConfig, make: Callable[[], nn.Module] | None) -> Target | None:
    if cfg.base is None:
        return None
    path = existing(cfg.base.path, "base model")
    if cfg.target.kind == "huggingface" and make is not None:  # an image classifier's base, fresh head
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            return TorchTarget(make(), num_classes=cfg.target.num_classes, name=f"public base ({path.name})")
    if cfg.target.kind == "huggingface":  # the public checkpoint with a fresh head of the target's classes
        from mlaudit.targets.huggingface import HuggingFaceTarget

        t = cfg.target
        return HuggingFaceTarget(
            path,
            num_labels=t.num_classes,
            max_length=t.max_length or 64,
            seed=cfg.seed,
            name=f"public base ({path.name})",
        )
    if make is None:
        return None
    return TorchTarget.from_file(make(), path, num_classes=cfg.target.num_classes, name=f"public base ({path.name})")


def head_of(model: nn.Module, name: str | None) -> nn.Module:
    """The classification head: the module `name`, or the last nn.Linear."""
    return model.get_submodule(head_name(model, name))


def head_name(model: nn.Module, name: str | None) -> str:
    """The head's module name: `name`, checked, or the last nn.Linear's."""
    modules = dict(model.named_modules())
    if name is not None:
        if name not in modules:
            raise InputError(
                f"recipe.head {name!r} is not a module of the model; it has {', '.join(list(modules)[1:9])}"
            )
        return name
    linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError(
            "recipe.fresh_head and recipe.lora need a head: the model has no nn.Linear; set recipe.head "
            "(or fresh_head: false without lora)"
        )
    return linears[-1]


def train_config(rc: RecipeConfig) -> TrainConfig:
    return TrainConfig(
        epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr, optimizer=rc.optimizer, momentum=rc.momentum,
        weight_decay=rc.weight_decay, schedule=rc.schedule, label_smoothing=rc.label_smoothing, augment=rc.augment,
        fit=UserFit.load(rc.fit, rc.fit_args) if rc.fit is not None else None,
    )  # fmt: skip


def _fine_tunes(cfg: AuditConfig, target: Target) -> bool:
    """Whether reference text classifiers are fine-tuned from the base with the recipe."""
    from mlaudit.targets.huggingface import HuggingFaceTarget

    if cfg.recipe is None or not isinstance(target, HuggingFaceTarget):
        return False
    return True


def lora_spec(cfg: AuditConfig, target: Target) -> LoraSpec | None:
    """How reference models train LoRA adapters: recipe.lora, else (a PEFT adapter target) the settings
    in its adapter_config.json; None: they train the recipe's parameters in full."""
    from mlaudit.targets.huggingface import HuggingFaceTarget

    lora = cfg.recipe.lora if cfg.recipe is not None else None
    if lora is not None:
        return LoraSpec(lora.rank, lora.alpha, lora.dropout, lora.target_modules)
    if cfg.recipe is not None and isinstance(target, HuggingFaceTarget) and target.adapter:
        return LoraSpec.from_adapter(Path(cfg.target.path or ""))
    return None


def _recipe(rc: RecipeConfig, make: Callable[[], nn.Module], base: TorchTarget | None) -> Recipe:
    config = train_config(rc)
    state = base.weights() if base is not None and rc.start == "base" else None

    def start(seed: int) -> nn.Module:
        with torch.random.fork_rng():  # initialisation draws from `seed`, not the global RNG
            torch.manual_seed(seed)
            model = make()
            if state is not None:
                model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
                if rc.fresh_head:
                    for m in head_of(model, rc.head).modules():
                        reset = getattr(m, "reset_parameters", None)
                        if callable(reset):
                            reset()
            if rc.lora is not None:  # the adapters draw their initialisation from `seed` too
                lora = rc.lora
                spec = LoraSpec(lora.rank, lora.alpha, lora.dropout, lora.target_modules, (head_name(model, rc.head),))
                return spec.wrap(model)  # type: ignore[no-any-return]
        return freeze_except(model, rc.trainable) if rc.trainable else model

    return Recipe(start, config)


def _references(
    cfg: AuditConfig, recipe: Recipe | None, lora: LoraSpec | None, members: Dataset, nonmembers: Dataset,
    population: Dataset, target: Target, cache: Path | None, progress: Progress | None, where: dict[str, Any],
) -> tuple[Any, Any]:  # fmt: skip
    """Online and offline reference models trained with the user's recipe, or (a scikit-learn model)
    refits of a clone of the estimator, with its own parameters (the one builder every setup uses)."""
    x = np.concatenate([members.x, nonmembers.x, population.x])
    y = np.concatenate([members.y, nonmembers.y, population.y])
    halves = np.arange(len(members) + len(nonmembers))
    pop = np.arange(len(halves), len(x))
    n_models = cfg.references or N_REFERENCES[cfg.profile]
    # the cache key covers the recipe, the model file, the seed and the data itself: other data, other references
    recipe_record = dataclasses.asdict(cfg.recipe) if cfg.recipe else None
    lora_record = dataclasses.asdict(lora) if lora else None
    h = hashlib.sha256(json.dumps([recipe_record, lora_record, cfg.target.path, cfg.seed]).encode())
    if cfg.recipe is not None and cfg.recipe.fit is not None and cfg.recipe.fit.rpartition(":")[0].endswith(".py"):
        h.update(Path(cfg.recipe.fit.rpartition(":")[0]).read_bytes())  # other training code, other references
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    key = h.hexdigest()[:16]

    def train_set(pool: np.ndarray, name: str, seed: int, pairs: bool) -> tuple[list[Any], np.ndarray]:
        n_train = min(len(members), len(pool))
        if recipe is None and cfg.target.kind == "huggingface":
            return _text_references(
                cfg, target, x, y, pool, n_train, n_models, pairs, seed, cache, f"own-{key}-{name}", lora
            )
        if recipe is None:
            assert isinstance(target, SklearnTarget)
            return refit_clones(
                target.estimator, x, y, pool, n_train=n_train, n_models=n_models, halves=pairs, seed=seed
            )
        return train_references(
            recipe.start, x, y, pool, n_train=n_train, n_models=n_models, halves=pairs, config=recipe.config,
            seed=seed, cache=cache, key=f"own-{key}-{name}", progress=progress, workers=1, **where,
        )  # fmt: skip

    return reference_sets(train_set, x, y, universe=halves, halves=halves, population=pop, seed=cfg.seed, target=target)


def _text_references(
    cfg: AuditConfig, target: Target, x: np.ndarray, y: np.ndarray, pool: np.ndarray, n_train: int, n_models: int,
    pairs: bool, seed: int, cache: Path | None, key: str, lora: LoraSpec | None,
) -> tuple[list[Any], np.ndarray]:  # fmt: skip
    """Copies of the public base (fresh heads) fine-tuned with the user's recipe (LoRA adapters with `lora`)."""
    from mlaudit.targets.huggingface import HuggingFaceTarget, classifier_from

    assert isinstance(target, HuggingFaceTarget) and cfg.base is not None and cfg.recipe is not None
    base, k, trainable = cfg.base.path, target.num_classes, cfg.recipe.trainable

    def start(seed: int) -> Any:
        model = classifier_from(base, k, seed)
        return freeze_except(model, trainable) if trainable else model

    return finetune_clones(
        start, target.tokenizer, x, y, pool, n_train=n_train, n_models=n_models,
        halves=pairs, config=train_config(cfg.recipe), max_length=target.max_length, seed=seed, cache=cache, key=key,
        lora=lora,
    )  # fmt: skip


def _numbered(
    members: Dataset, nonmembers: Dataset, population: Dataset | None
) -> tuple[Dataset, Dataset, Dataset | None]:
    """Ids in one numbering (members, then non-members, then population), as the reference records use."""
    m, n = len(members), len(nonmembers)
    members = dataclasses.replace(members, ids=np.arange(m))
    nonmembers = dataclasses.replace(nonmembers, ids=np.arange(m, m + n))
    if population is not None:
        population = dataclasses.replace(population, ids=np.arange(m + n, m + n + len(population)))
    return members, nonmembers, population


def _model_columns(cfg: AuditConfig, target: Target) -> tuple[list[str], list[str]] | None:
    """(columns, classes) a scikit-learn model was fitted on, when it records its column names: tables
    are then encoded as it expects (data.formats.model_encoding)."""
    if not isinstance(target, SklearnTarget):
        return None
    if target.feature_names is None:
        if any(
            s is not None and s.source == "table" for s in (cfg.data.members, cfg.data.nonmembers, cfg.data.population)
        ):
            raise InputError(
                f"{target.name} was fitted without column names, so a table cannot be encoded as it expects; "
                "give the data as npz arrays exactly as you fed the model, or refit it on a pandas DataFrame"
            )
        return None
    return target.feature_names, [str(c) for c in target.estimator.classes_]


def _load_data(cfg: AuditConfig, target: Target) -> tuple[Dataset, Dataset, Dataset | None]:
    """Members, non-members and population in one numbering; every table of the audit encoded alike
    (a scikit-learn model's own columns, or the audit's joint encoding: never scaled per file)."""
    members, nonmembers, population = load_sources(cfg.data, _model_columns(cfg, target))
    for d in (members, nonmembers, population):
        if d is not None:
            d.check_num_classes(target.num_classes)
    return _numbered(members, nonmembers, population)
