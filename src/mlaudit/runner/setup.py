"""Turn a validated config into what attacks run against: the target, threat model and data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.registry import get_attack
from mlaudit.config import AuditConfig, DataSourceConfig
from mlaudit.data import Dataset, images_from_idx, load_builtin, read_image_folder, read_npz, read_table
from mlaudit.data.formats import existing
from mlaudit.errors import ConfigError, InputError
from mlaudit.runner.default import build_default, references
from mlaudit.runner.plan import Progress
from mlaudit.targets import Target, TorchTarget
from mlaudit.threat import Access, Knowledge, ThreatModel


@dataclass
class AuditSetup:
    target: Target  # full access: the data owner's handle (attacks get a restricted view)
    threat_model: ThreatModel
    inputs: dict[str, AttackInputs]  # "main", and "control" (two disjoint non-member sets)
    target_info: dict[str, Any]
    data_info: dict[str, Any]
    model_files: list[str] = field(default_factory=list)
    scenario: Any = None  # the built-in default's DefaultScenario (models, splits, recipe), else None


def threat_model(cfg: AuditConfig) -> ThreatModel:
    t = cfg.threat_model
    return ThreatModel(
        access=Access.parse(t.access),
        query_budget=t.query_budget,
        knowledge=frozenset(Knowledge.parse(k) for k in t.knowledge),
        asset=t.asset,
    )


def build_setup(
    cfg: AuditConfig,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> AuditSetup:
    tm = threat_model(cfg)
    where = {"executor": executor, "ray_address": ray_address}
    if cfg.target.kind == "default" and cfg.target.scenario.startswith("cps1988"):
        return _tabular_setup(cfg, tm, cache, progress, where)
    if cfg.target.kind == "default" and cfg.target.scenario == "rotten-tomatoes-minilm":
        return _text_setup(cfg, tm, cache, progress)
    if cfg.target.kind == "default":
        return _default_setup(cfg, tm, cache, progress, where)
    target, files = _user_target(cfg)
    assert cfg.data.members is not None and cfg.data.nonmembers is not None  # checked by AuditConfig
    members, nonmembers = load_source(cfg.data.members), load_source(cfg.data.nonmembers)
    for d in (members, nonmembers):
        d.check_num_classes(target.num_classes)
    inputs = {"main": AttackInputs(members, nonmembers)}
    if cfg.data.control:
        if len(nonmembers) < 4:
            raise InputError(f"the control pair splits the non-members in two; {len(nonmembers)} are too few (need 4+)")
        half = np.random.default_rng(cfg.seed).permutation(len(nonmembers))
        a, b = half[: len(half) // 2], half[len(half) // 2 :]
        inputs["control"] = AttackInputs(
            nonmembers.subset(a, "non-members (half A)"), nonmembers.subset(b, "non-members (half B)")
        )
    data_info = {"members": _describe(members), "nonmembers": _describe(nonmembers), "seed": cfg.seed}
    return AuditSetup(target, tm, inputs, {**target.describe(), "kind": cfg.target.kind}, data_info, files)


def _default_setup(
    cfg: AuditConfig, tm: ThreatModel, cache: Path | None, progress: Progress | None, where: dict[str, Any]
) -> AuditSetup:
    sc = build_default(cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    head = sc.finetuned.head
    assert isinstance(head, torch.nn.Linear)
    n = head.out_features
    target = TorchTarget(sc.finetuned, num_classes=int(n), name=f"default fine-tuned {sc.settings.architecture}")
    base = TorchTarget(sc.base, num_classes=int(n), name="public base model")
    p = sc.parts
    pop = p["control_a"] if Knowledge.POPULATION_DATA in tm.knowledge else None
    on = off = None
    if _wants_references(cfg, tm):
        n_refs = 4  # per set (online and offline): 8 reference trainings keep the full (CNN) profile under 10 min
        views = any(getattr(get_attack(a), "augment", False) for a in cfg.attacks)  # LiRA's augmented queries
        on, off = references(
            sc, n_models=n_refs, seed=cfg.seed, cache=cache, target=target, progress=progress, views=views, **where
        )
    base_view = base if Knowledge.BASE_MODEL in tm.knowledge else None
    inputs = {
        "main": AttackInputs(p["members"], p["nonmembers"], pop, base_view, on, off),
        "control": AttackInputs(p["control_a"], p["control_b"], None, base_view, on, off),
    }
    info = {
        **target.describe(),
        "kind": "default",
        "dataset": sc.settings.dataset,
        "story": "pretrained on public classes, fine-tuned with a fresh head on a private split",
        "utility": sc.utility,
        "training": {"pretrain": vars(sc.settings.pretrain), "finetune": vars(sc.settings.finetune)},
    }
    data_info = _scenario_data(sc.settings.dataset, cfg.seed, sc.split_record, p)
    files = _cached(cache, "default-*.safetensors")
    return AuditSetup(target, tm, inputs, info, data_info, files, sc)


def _wants_references(cfg: AuditConfig, tm: ThreatModel) -> bool:
    return Knowledge.TRAINING_RECIPE in tm.knowledge and any(
        Knowledge.TRAINING_RECIPE in get_attack(a).knowledge for a in cfg.attacks
    )


def _tabular_setup(
    cfg: AuditConfig, tm: ThreatModel, cache: Path | None, progress: Progress | None, where: dict[str, Any]
) -> AuditSetup:
    from mlaudit.runner.tabular import build_tabular, tabular_references

    sc = build_tabular(cfg.target.scenario, cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    p = sc.parts
    on = off = None
    if _wants_references(cfg, tm):
        on, off = tabular_references(sc, n_models=4, seed=cfg.seed, cache=cache, progress=progress, **where)
    knows = Knowledge.POPULATION_DATA in tm.knowledge
    inputs = {  # each pair's population is disjoint from both of its sets
        "main": AttackInputs(p["members"], p["nonmembers"], p["control_a"] if knows else None, None, on, off),
        "control": AttackInputs(p["control_a"], p["control_b"], p["nonmembers"] if knows else None, None, on, off),
    }
    info = {
        **sc.target.describe(),
        "kind": "default",
        "scenario": cfg.target.scenario,
        "dataset": sc.data.name,
        "sensitive_attribute": sc.data.sensitive_name,
        "story": "trained on 1,000 private census rows; "
        + ("an MLP with every access" if sc.model == "mlp" else "a random forest served as probabilities only"),
        "utility": sc.utility,
    }
    data_info = _scenario_data(sc.data.name, cfg.seed, sc.split_record, p)
    files = _cached(cache, f"tabular-{sc.key}-*.safetensors")
    return AuditSetup(sc.target, tm, inputs, info, data_info, files)


def _text_setup(cfg: AuditConfig, tm: ThreatModel, cache: Path | None, progress: Progress | None) -> AuditSetup:
    from mlaudit.runner.text import build_text

    need_refs = [a for a in cfg.attacks if Knowledge.TRAINING_RECIPE in get_attack(a).knowledge]
    if need_refs:
        raise ConfigError(
            f"the rotten-tomatoes-minilm scenario trains no reference models (each would be a MiniLM fine-tune); "
            f"drop {', '.join(need_refs)} or use loss / base-reference"
        )
    sc = build_text(cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    p = sc.parts
    base = sc.base if Knowledge.BASE_MODEL in tm.knowledge else None
    pop = p["control_a"] if Knowledge.POPULATION_DATA in tm.knowledge else None
    inputs = {
        "main": AttackInputs(p["members"], p["nonmembers"], pop, base),
        "control": AttackInputs(p["control_a"], p["control_b"], None, base),
    }
    info = {
        **sc.target.describe(),
        "kind": "default",
        "scenario": cfg.target.scenario,
        "dataset": sc.data.name,
        "story": f"the public all-MiniLM-L6-v2 with a fresh head, top {sc.config.train_layers} blocks fine-tuned "
        f"on {len(p['members'])} private snippets",
        "utility": sc.utility,
        "training": vars(sc.config),
    }
    data_info = _scenario_data(sc.data.name, cfg.seed, sc.split_record, p)
    files = _cached(cache, f"text-{sc.key}-*.safetensors")
    return AuditSetup(sc.target, tm, inputs, info, data_info, files)


def _user_target(cfg: AuditConfig) -> tuple[Target, list[str]]:
    t = cfg.target
    path = existing(t.path or "", "model")
    if t.kind == "huggingface":
        from mlaudit.targets.huggingface import HuggingFaceTarget

        target: Target = HuggingFaceTarget(path, num_labels=t.num_classes, max_length=t.max_length, seed=cfg.seed)
        return target, sorted(str(p) for p in path.iterdir() if p.is_file())
    from mlaudit.models import build

    args = {k: tuple(v) if isinstance(v, list) else v for k, v in t.architecture_args.items()}
    try:
        module = build(t.architecture, tuple(t.input_shape), t.num_classes, **args)
    except TypeError as e:
        raise InputError(f"bad target.architecture_args {t.architecture_args!r} for {t.architecture!r}: {e}") from None
    return TorchTarget.from_file(module, path, num_classes=t.num_classes), [str(path)]


def load_source(src: DataSourceConfig) -> Dataset:
    if src.source == "builtin":
        d = load_builtin(src.name or "")
    elif src.source == "idx":
        d = images_from_idx(src.path or "", src.labels_path or "")
    elif src.source == "table":
        d = read_table(src.path or "", label=src.label_column)
    elif src.source == "npz":
        d = read_npz(src.path or "", x_key=src.x_key, y_key=src.y_key)
    else:
        d = read_image_folder(src.path or "")
    if src.limit is not None:
        d = d.subset(np.arange(min(src.limit, len(d))))
    return d


def _scenario_data(dataset: str, seed: int, splits: dict[str, Any], parts: dict[str, Dataset]) -> dict[str, Any]:
    """The report's data section for a built-in scenario: where the data came from and how it was split."""
    return {"dataset": dataset, "seed": seed, "splits": splits, "parts": {k: _describe(v) for k, v in parts.items()}}


def _cached(cache: Path | None, pattern: str) -> list[str]:
    """The model files a built-in scenario cached (they are scanned like any audited file)."""
    return sorted(str(f) for f in cache.glob(pattern)) if cache is not None else []


def _describe(d: Dataset) -> dict[str, Any]:
    counts = np.bincount(d.y, minlength=d.num_classes)
    return {"name": d.name, "kind": d.kind, "size": len(d), "classes": list(d.classes), "class_counts": counts.tolist()}
