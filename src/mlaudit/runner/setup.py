"""Turn a validated config into the setup record attacks run against: a built-in scenario's, or the
user's own target and data (the same record either way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig, DataSourceConfig
from mlaudit.data import Dataset, images_from_idx, load_builtin, read_image_folder, read_npz, read_table
from mlaudit.data.formats import existing
from mlaudit.errors import InputError
from mlaudit.progress import Progress
from mlaudit.scenarios import SCENARIOS
from mlaudit.scenarios.record import AuditSetup, describe, threat_model
from mlaudit.targets import Target, TorchTarget
from mlaudit.threat import ThreatModel


def build_setup(
    cfg: AuditConfig,
    attacks: list[str],
    *,
    cache: Path | None,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> AuditSetup:
    """The setup record for `cfg`; `attacks` (the selected names) say whether reference models are needed."""
    tm = threat_model(cfg)
    if cfg.target.kind == "default":
        where = {"executor": executor, "ray_address": ray_address}
        return SCENARIOS[cfg.target.scenario](cfg, attacks, tm, cache=cache, progress=progress, where=where)
    return _user_setup(cfg, tm)


def _user_setup(cfg: AuditConfig, tm: ThreatModel) -> AuditSetup:
    target, files = _user_target(cfg)
    assert cfg.data.members is not None and cfg.data.nonmembers is not None  # checked by AuditConfig
    members, nonmembers = load_source(cfg.data.members), load_source(cfg.data.nonmembers)
    for d in (members, nonmembers):
        d.check_num_classes(target.num_classes)
    common: dict[str, Any] = {"model_files": tuple(files), "budget": cfg.profile, "threat_model": tm}
    inputs = {"main": AttackInputs(members, nonmembers, **common)}
    if cfg.data.control:
        if len(nonmembers) < 4:
            raise InputError(f"the control pair splits the non-members in two; {len(nonmembers)} are too few (need 4+)")
        half = np.random.default_rng(cfg.seed).permutation(len(nonmembers))
        a, b = half[: len(half) // 2], half[len(half) // 2 :]
        inputs["control"] = AttackInputs(
            nonmembers.subset(a, "non-members (half A)"), nonmembers.subset(b, "non-members (half B)"), **common
        )
    data_info = {"members": describe(members), "nonmembers": describe(nonmembers), "seed": cfg.seed}
    return AuditSetup(target, tm, inputs, {**target.describe(), "kind": cfg.target.kind}, data_info, files)


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
