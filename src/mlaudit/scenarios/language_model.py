"""A user's own causal language model from their config: the target (a Hugging Face folder, a PEFT
adapter over its base, or a GGUF file), the public base it was fine-tuned from (the natural reference),
and the documents (members: what it was fine-tuned on; non-members; population). The same setup record
as every other audit, so the planner runs each LM attack the threat model grants."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.memorization.secrets import SecretFormat
from mlaudit.config import AuditConfig
from mlaudit.data import Dataset
from mlaudit.data.checks import check_disjoint
from mlaudit.data.formats import existing
from mlaudit.data.sources import load_sources
from mlaudit.errors import InputError
from mlaudit.models.causal_lm import finetune_causal_lm
from mlaudit.models.lora import LoraSpec
from mlaudit.models.train import freeze_except
from mlaudit.progress import Progress
from mlaudit.registry import get_attack
from mlaudit.scenarios.own_model import completions_target, train_config
from mlaudit.scenarios.record import AuditSetup, control_halves, describe, model_files
from mlaudit.targets.base import Target
from mlaudit.targets.huggingface import is_adapter
from mlaudit.targets.language_model import LanguageModelTarget, load_language_model
from mlaudit.threat import Access, Knowledge, ThreatModel

MAX_LENGTH = 512  # tokens per window when target.max_length is not set
LM_REFERENCES = {"quick": 2, "full": 4}  # reference LMs when the config does not say (each is a fine-tune)
log = logging.getLogger(__name__)
UNKNOWN_SHARE = 0.05  # above this share of unknown tokens, the tokenizer does not read the documents


def prepare(
    cfg: AuditConfig,
    attacks: list[str],
    tm: ThreatModel,
    *,
    cache: Path | None,
    progress: Progress | None = None,
    where: dict[str, Any] | None = None,
) -> AuditSetup:
    """The setup record for a user's language model (see the module doc)."""
    base_path = existing(cfg.base.path, "base model") if cfg.base is not None else None
    if cfg.recipe is not None and (cfg.recipe.label_smoothing or cfg.recipe.head):
        raise InputError("recipe.label_smoothing and recipe.head are for classifiers; remove them for a language model")
    length = cfg.target.max_length or MAX_LENGTH
    target, path = _target(cfg, tm, base_path, cache, length)
    base = None
    if base_path is not None:
        b_model, b_tok = load_language_model(base_path, cache=cache)
        base = LanguageModelTarget(b_model, b_tok, name=f"public base ({base_path.name})", max_length=length)
        if isinstance(target, LanguageModelTarget) and base.num_classes != target.num_classes:
            raise InputError(
                f"base {str(base_path)!r} has a vocabulary of {base.num_classes} tokens, the target "
                f"{target.num_classes}; give the model it was fine-tuned from"
            )
    members, nonmembers, population = load_sources(cfg.data, documents=True)
    rng = np.random.default_rng(cfg.seed)
    checked = check_disjoint(members, nonmembers, rng=rng)
    if isinstance(target, LanguageModelTarget):  # a served model's tokenizer is the server's
        checked.update(check_tokens(target, members))
    if population is not None:  # reference LMs train on it: it must hold no audited document
        for part in (members, nonmembers):
            check_disjoint(part, population, rng=rng)
    knows = Knowledge.POPULATION_DATA in tm.knowledge
    files = model_files(path, base_path if is_adapter(path) else None) if path is not None else []
    refs = None
    wants = any("lm_references" in get_attack(a).requires.needs for a in attacks)
    if wants and cfg.recipe is not None and population is not None and Knowledge.TRAINING_RECIPE in tm.knowledge:
        assert base_path is not None  # a recipe for a Hugging Face model starts from base: (config check)
        refs = reference_scores(cfg, base_path, length, [*map(str, members.x), *map(str, nonmembers.x)],
                                [str(d) for d in population.x], cache)  # fmt: skip
    mem = cfg.memorization
    common: dict[str, Any] = {
        "model_files": tuple(files), "budget": cfg.profile, "threat_model": tm, "cache": cache, "pool": population,
        "base": base if Knowledge.BASE_MODEL in tm.knowledge else None,
        "secrets": tuple(SecretFormat(s.prefix, s.format) for s in mem.secrets) if mem else (),
        "probes": mem.probes if mem else (), "lm_reference_scores": refs,
    }  # fmt: skip
    inputs = {"main": AttackInputs(members, nonmembers, population if knows else None, **common)}
    if cfg.data.control:
        a, b = control_halves(nonmembers, cfg.seed)
        inputs["control"] = AttackInputs(a, b, population if knows else None, **common)
    data_info = {"members": describe(members), "nonmembers": describe(nonmembers), "seed": cfg.seed, "checks": checked}
    if population is not None:
        data_info["population"] = describe(population)
    info = {**target.describe(), "kind": cfg.target.kind}
    if base is not None:
        info["base"] = base.describe()
    return AuditSetup(target, tm, inputs, info, data_info, files)


def _target(
    cfg: AuditConfig, tm: ThreatModel, base_path: Path | None, cache: Path | None, length: int
) -> tuple[Target, Path | None]:
    """The audited LM and its path: loaded here, or served (OpenAI-compatible completions: no path)."""
    if cfg.target.kind == "http":
        return completions_target(cfg.target), None
    path = existing(cfg.target.path or "", "language model")
    model, tok = load_language_model(path, base=base_path, cache=cache)
    stats = tm.access >= Access.LOGITS  # Min-K%++ may run: one pass serves it and the log-prob attacks
    return LanguageModelTarget(model, tok, name=path.name, max_length=length, statistics=stats), path


def reference_scores(
    cfg: AuditConfig, base: Path, length: int, docs: list[str], population: list[str],
    cache: Path | None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Each document's mean token log-probability under K reference LMs (cfg.references, or 2 quick / 4
    full): copies of the base fine-tuned with the recipe (trainable modules, or LoRA as the recipe or the
    adapter target says) on random halves of the population. Each reference's scores are kept in
    `cache` (npz, keyed by the recipe, the base, the seed and the documents), so a rerun resumes."""
    assert cfg.recipe is not None
    k = cfg.references or LM_REFERENCES[cfg.profile]
    h = hashlib.sha256(json.dumps([dataclasses.asdict(cfg.recipe), str(base), cfg.seed, length]).encode())
    for d in (*docs, "\x00", *population):
        h.update(d.encode("utf-8") + b"\x00")
    folder = (cache or Path(tempfile.mkdtemp(prefix="mlaudit-lm-refs-"))) / f"lm-refs-{h.hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    lora = _lora(cfg)
    rng = np.random.default_rng(cfg.seed)
    out = []
    for i in range(k):
        pick = rng.permutation(len(population))[: max(1, len(population) // 2)]
        path = folder / f"reference-{i}.npz"
        if path.is_file():
            out.append(np.load(path, allow_pickle=False)["scores"])
            continue
        log.info("training reference language model %d of %d on %d population documents", i + 1, k, len(pick))
        model, tok = load_language_model(base, cache=cache)
        if lora is not None:
            model = lora.wrap(model, task="CAUSAL_LM")
        elif cfg.recipe.trainable:
            freeze_except(model, cfg.recipe.trainable)
        g = torch.Generator().manual_seed(cfg.seed + 1 + i)
        chosen = [population[j] for j in pick]
        finetune_causal_lm(model, tok, chosen, train_config(cfg.recipe), max_length=length, generator=g)
        ref = LanguageModelTarget(model, tok, name=f"reference {i}", max_length=length)
        scores = np.array([float(lp.mean()) for lp in ref.token_logprobs(docs)])
        np.savez(path, scores=scores)
        out.append(scores)
    table = np.stack(out, axis=1)  # (documents, K)
    return {d: table[j] for j, d in enumerate(docs)}


def _lora(cfg: AuditConfig) -> LoraSpec | None:
    """The references' LoRA settings: recipe.lora, or the adapter target's own (adapter_config.json)."""
    assert cfg.recipe is not None
    if cfg.recipe.lora is not None:
        lora = cfg.recipe.lora
        return LoraSpec(lora.rank, lora.alpha, lora.dropout, lora.target_modules)
    path = Path(cfg.target.path or "")
    return LoraSpec.from_adapter(path) if is_adapter(path) else None


def check_tokens(target: LanguageModelTarget, members: Dataset) -> dict[str, float]:
    """The tokenizer must read the documents: refused when more than 5% of their tokens are unknown,
    or a document has fewer than two tokens (nothing to score)."""
    unk = target.tokenizer.unk_token_id
    total = unknown = 0
    for i, text in enumerate(members.x[:200]):
        ids = target.encode(str(text))
        if len(ids) < 2:
            raise InputError(f"member document {i} ({str(text)[:40]!r}) has fewer than 2 tokens; remove it")
        total += len(ids)
        unknown += sum(t == unk for t in ids) if unk is not None else 0
    share = unknown / max(total, 1)
    if share > UNKNOWN_SHARE:
        raise InputError(
            f"{share:.0%} of the members' tokens are unknown to the model's tokenizer: these documents are not "
            "text it reads; check the data and the model folder"
        )
    return {"unknown_token_share": share}
