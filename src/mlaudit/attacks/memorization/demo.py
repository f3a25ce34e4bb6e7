"""Memorization demonstrated on built-in data: canary exposure (Carlini et al. 2019, arXiv 1802.08232)
and training-data extraction (Carlini et al. 2021, arXiv 2012.07805) on a character GPT trained here on
the King James Bible with Faker SSNs inserted 0-20 times (not about the audited model)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs, as_demonstration
from mlaudit.findings import Finding
from mlaudit.models.cache import ModelCache
from mlaudit.requirements import Requires, Unmet
from mlaudit.targets.base import Target
from mlaudit.threat import Access, ThreatModel

CANARY_COUNTS = (0, 0, 0, 1, 2, 4, 10, 20)  # insertions per secret; 0 = never-inserted controls


@dataclass
class CanaryWorld:
    model: Any  # CharGPT
    vocab: Any  # CharVocab
    text: str  # the training text, canaries included
    canaries: dict[str, int]  # secret -> insertions


def canary_world(
    *, seed: int, cache: Path | None, chars: int = 50_000, steps: int = 800, counts: tuple[int, ...] = CANARY_COUNTS
) -> CanaryWorld:
    """A character GPT trained here on the first `chars` characters of the King James Bible with Faker
    SSN canaries inserted `counts` times; its weights are cached as safetensors, keyed by the settings."""
    from mlaudit.attacks.memorization.exposure import faker_ssns, insert_canaries
    from mlaudit.data.assets import kjv_lines
    from mlaudit.models.gpt import CharGPT, CharVocab, LMTrainConfig, train_lm

    canaries = dict(zip(faker_ssns(len(counts), seed=seed), counts, strict=True))
    rng = np.random.default_rng(seed)
    lines = insert_canaries(kjv_lines(chars), {s: k for s, k in canaries.items() if k}, rng=rng)
    text = "\n".join(lines) + "\n"
    vocab = CharVocab(text + "0123456789-")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CharGPT(len(vocab), d_model=64, context=48)
    config = LMTrainConfig(steps=steps, batch_size=32, lr=5e-3)
    key = hashlib.sha256(json.dumps([chars, steps, list(counts), seed, 64, 48]).encode()).hexdigest()[:16]
    store = ModelCache(cache)
    if not store.load(f"canary-gpt-{key}", model):
        train_lm(model, vocab.encode(text), config, generator=torch.Generator().manual_seed(seed))
        store.save(f"canary-gpt-{key}", model)
    return CanaryWorld(model.eval(), vocab, text, canaries)


_LM_TM = ThreatModel(access=Access.PROBABILITIES)  # the adversary reads the model's next-character probabilities


def exposure_demo(*, seed: int, cache: Path | None, n_samples: int = 5000, world: CanaryWorld | None = None) -> Finding:
    """Canary exposure demonstration (char GPT on the King James Bible)"""
    from mlaudit.attacks.memorization.exposure import SSN_PREFIX, exposure_finding, exposures
    from mlaudit.models.gpt import log_perplexity

    t0 = time.perf_counter()
    w = world or canary_world(seed=seed, cache=cache)
    prefix = w.vocab.encode(SSN_PREFIX)

    def score(secrets: list[str]) -> np.ndarray:
        return log_perplexity(w.model, prefix, np.stack([w.vocab.encode(s) for s in secrets]))

    results = exposures(score, w.canaries, n_samples=n_samples, rng=np.random.default_rng(seed + 1))
    model = "A character GPT trained on the King James Bible"
    f = exposure_finding(results, model=model, seed=seed, threat_model={}, queries=n_samples + len(w.canaries))
    f = dataclasses.replace(f, duration_s=round(time.perf_counter() - t0, 3))
    return as_demonstration(f, id="canary-exposure-demo", title=f.title, tm=_LM_TM)


def extraction_demo(
    *, seed: int, cache: Path | None, n_generations: int = 1000, world: CanaryWorld | None = None
) -> Finding:
    """Training-data extraction demonstration (char GPT on the King James Bible)"""
    from mlaudit.attacks.memorization.extraction import extraction_finding, rank_generations, sample_lines
    from mlaudit.models.gpt import text_bits

    t0 = time.perf_counter()
    w = world or canary_world(seed=seed, cache=cache)
    g = torch.Generator().manual_seed(seed + 2)
    gens = sample_lines(w.model, w.vocab, n=n_generations, length=46, top_k=10, generator=g)
    ranked = rank_generations(gens, lambda ts: text_bits(w.model, w.vocab, ts), w.text, metric="zlib")
    f = extraction_finding(
        ranked,
        w.canaries,
        model="A character GPT trained on the King James Bible with inserted SSNs",
        n_generations=n_generations,
        metric="zlib",
        seed=seed,
        threat_model={},
        duration_s=time.perf_counter() - t0,
    )
    return as_demonstration(f, id="extraction-demo", title=f.title, tm=_LM_TM)


def _unmet(name: str) -> Unmet | None:
    if shutil.which("bible") is not None and importlib.util.find_spec("faker") is not None:
        return None
    return Unmet(f"{name} needs the King James Bible and Faker", "apt-get install bible-kjv; pip install faker")


@dataclass(frozen=True)
class CanaryExposureDemo:
    """Canary exposure demonstration (char GPT on the King James Bible)"""

    name: ClassVar[str] = "canary-exposure-demo"
    category: ClassVar[str] = "memorization"
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        return _unmet(self.name)

    n_samples: int = 5000  # random secrets the canaries are ranked against
    chars: int = 50_000  # the training text's length and the model's training steps
    steps: int = 800

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        world = canary_world(seed=seed, cache=inputs.cache, chars=self.chars, steps=self.steps)
        return exposure_demo(seed=seed, cache=inputs.cache, n_samples=self.n_samples, world=world)


@dataclass(frozen=True)
class ExtractionDemo:
    """Training-data extraction demonstration (char GPT on the King James Bible)"""

    name: ClassVar[str] = "extraction-demo"
    category: ClassVar[str] = "memorization"  # training-data extraction: the Finding's family
    requires: ClassVar[Requires] = Requires(Access.LABELS, profile="full", auditor=True)

    def unmet(self, inputs: AttackInputs) -> Unmet | None:
        return _unmet(self.name)

    n_generations: int = 1000
    chars: int = 50_000  # the training text's length and the model's training steps
    steps: int = 800

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        world = canary_world(seed=seed, cache=inputs.cache, chars=self.chars, steps=self.steps)
        return extraction_demo(seed=seed, cache=inputs.cache, n_generations=self.n_generations, world=world)
