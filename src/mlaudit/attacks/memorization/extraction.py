"""Training-data extraction (Carlini et al. 2021, "Extracting Training Data from Large Language
Models", arXiv 2012.07805): sample many generations from the model, rank them by how much more likely
the model finds them than a generic measure of their information does, and check which are verbatim
training text. Membership metrics, per generation (lower = more likely memorised):

- "perplexity": the model's log-perplexity per character;
- "zlib": log-perplexity divided by the zlib-compressed size (text that is improbably likely for how
  much information it carries);
- "reference": the model's log-perplexity minus a reference model's (one that did not train on the
  data; Carlini et al. use a smaller model), when one is given.

Reports which generations contain PII (attacks.memorization.pii: SSNs, card numbers, e-mail addresses,
phone numbers, each checked) and which of the members' secrets came back verbatim.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.zlib_ratio import zlib_bits
from mlaudit.attacks.memorization.pii import find_pii
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


@dataclass(frozen=True)
class Extraction:
    text: str
    score: float  # the ranking metric, lower = more likely memorised
    verbatim: bool  # the whole generation occurs in the training text
    pii: tuple[str, ...]  # personal data in it (attacks.memorization.pii)


def rank_generations(
    generations: list[str],
    log_perplexity: Callable[[list[str]], np.ndarray],
    training_text: str,
    *,
    metric: str = "zlib",
    reference: Callable[[list[str]], np.ndarray] | None = None,
    min_chars: int = 20,
) -> list[Extraction]:
    """Distinct generations of at least `min_chars`, best-ranked first. `log_perplexity` gives each
    text's total log-perplexity in bits under the audited model (`reference` under the reference)."""
    texts = sorted({g for g in generations if len(g) >= min_chars})
    if not texts:
        return []
    bits = log_perplexity(texts)
    if metric == "perplexity":
        score = bits / np.array([len(t) for t in texts])
    elif metric == "zlib":
        score = bits / np.array([zlib_bits(t) for t in texts])
    elif metric == "reference":
        if reference is None:
            raise ValueError("the reference metric needs a reference model's log-perplexity")
        score = (bits - reference(texts)) / np.array([len(t) for t in texts])
    else:
        raise ValueError(f"unknown metric {metric!r}; use perplexity, zlib or reference")
    order = np.argsort(score, kind="stable")
    return [
        Extraction(texts[i], float(score[i]), texts[i] in training_text, tuple(p.text for p in find_pii(texts[i])))
        for i in order
    ]


def precision_at(ranked: list[Extraction], k: int = 100) -> float:
    """Share of the top `k` ranked generations that are verbatim training text."""
    top = ranked[:k]
    return float(np.mean([e.verbatim for e in top])) if top else 0.0


def recovered_secrets(ranked: list[Extraction], secrets: list[str]) -> list[str]:
    """Inserted secrets that appear verbatim in some generation."""
    return [s for s in secrets if any(s in e.text for e in ranked)]


def extraction_finding(
    ranked: list[Extraction],
    secrets: dict[str, int],
    *,
    model: str,
    n_generations: int,
    metric: str,
    seed: int,
    threat_model: dict[str, object],
    k: int = 100,
    duration_s: float = 0.0,
) -> Finding:
    """One finding: precision among the top `k` ranked generations, which inserted secrets (`secrets`:
    secret -> insertion count) came back verbatim and at what rank, the top generations, and any PII."""
    from mlaudit.findings import versions
    from mlaudit.metrics import clopper_pearson

    found = recovered_secrets(ranked, list(secrets))
    rank = {s: next(i for i, e in enumerate(ranked) if s in e.text) + 1 for s in found}
    hits = sum(e.verbatim for e in ranked[:k])
    lo, hi = clopper_pearson(hits, min(k, len(ranked))) if ranked else (0.0, 1.0)
    pii = sorted({p for e in ranked for p in e.pii})
    metrics = {
        f"precision_at_{k}": Metric(
            precision_at(ranked, k), lo, hi, "verbatim in the training text, Clopper-Pearson 95%"
        ),
        "secrets_recovered": Metric(float(len(found)), method=f"of {sum(1 for c in secrets.values() if c)} inserted"),
        "distinct_generations": Metric(float(len(ranked)), method=f"of {n_generations} sampled"),
        "pii_strings_generated": Metric(float(len(pii)), method="distinct valid PII strings in the generations"),
    }
    severity = Severity.HIGH if found else Severity.MEDIUM if hits else Severity.INFO
    top = [
        [i + 1, e.text, f"{e.score:.3f}", "yes" if e.verbatim else "", ", ".join(e.pii)]
        for i, e in enumerate(ranked[:20])
    ]
    per_secret = [[s, c, "yes" if s in rank else "no", rank.get(s, "")] for s, c in secrets.items()]
    return Finding(
        id="training-data-extraction",
        category="memorization",
        attack="training-data-extraction",
        title="Training-data extraction (Carlini et al. 2021)",
        summary=f"{model}: of {n_generations} generations ranked by {metric}, {hits} of the top {min(k, len(ranked))} "
        f"are verbatim training text; {len(found)} inserted secret(s) came back verbatim"
        + (f" (best rank {min(rank.values())})." if rank else "."),
        threat_model=threat_model,
        metrics=metrics,
        severity=severity,
        artifacts=(
            Artifact.table("Inserted secrets", ["secret", "insertions", "recovered verbatim", "rank"], per_secret),
            Artifact(
                "table",
                f"Top 20 generations by {metric} (personal data marked)",
                {
                    "columns": ["rank", "generation", "score", "verbatim", "PII"],
                    "rows": top,
                    "pii_columns": ["generation"],
                },
            ),
            Artifact.table(
                "PII (checked SSNs, card numbers, e-mail addresses, phone numbers) in the generations",
                ["string", "an inserted secret", "generations containing it"],
                [[p, "yes" if p in secrets else "no", sum(p in e.pii for e in ranked)] for p in pii],
            ),
        ),
        config={"generations": n_generations, "metric": metric, "k": k, "queries": n_generations},
        seed=seed,
        duration_s=round(duration_s, 3),
        versions=versions(),
    )


def lm_bits(target: Any, texts: list[str]) -> np.ndarray:
    """Total -log2 p(text) of each text under a language-model target."""
    return np.array([-float(lp.sum()) / np.log(2) for lp in target.token_logprobs(texts)])


@dataclass(frozen=True)
class TrainingDataExtraction:
    """Sample unprompted generations, rank them, check them for member text, secrets and PII.

    `generations` continuations of the bare start of a document (quick 200, full 1,000), ranked by the
    base-model reference (with the base) or zlib (without); the top ones checked against the members'
    documents (verbatim text, their secrets) and for personal data."""

    generations: int | None = None
    max_new_tokens: int = 48
    top_k: int = 40
    name: ClassVar[str] = "training-data-extraction"
    category: ClassVar[str] = "memorization"
    requires: ClassVar[Requires] = Requires(Access.PROBABILITIES, modalities=frozenset({"language"}))

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        if inputs.members is None:
            raise InputError("training-data extraction needs the members' documents to check generations against")
        t0 = time.perf_counter()
        n = self.generations or (1000 if inputs.budget == "full" else 200)
        gen = torch.Generator().manual_seed(seed)
        raw = target.generate([""] * n, max_new_tokens=self.max_new_tokens, top_k=self.top_k, generator=gen)
        lines = [r.split("\n", 1)[0].strip() for r in raw]
        docs = [str(t) for t in inputs.members.x]
        base = inputs.base
        metric = "reference" if base is not None else "zlib"
        reference = (lambda t: lm_bits(base, t)) if base is not None else None
        ranked = rank_generations(lines, lambda t: lm_bits(target, t), "\n".join(docs), metric=metric,
                                  reference=reference)  # fmt: skip
        secrets = {s: c for f in inputs.secrets for s, c in f.found(docs).items()}
        tm = target.threat_model.to_dict()
        f = extraction_finding(ranked, secrets, model=target.name, n_generations=n, metric=metric, seed=seed,
                               threat_model=tm, duration_s=time.perf_counter() - t0)  # fmt: skip
        return dataclasses.replace(f, attack=self.name, config={**f.config, "queries": target.queries})
