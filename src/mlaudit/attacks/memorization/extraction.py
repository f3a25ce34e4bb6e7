"""Training-data extraction (Carlini et al. 2021, "Extracting Training Data from Large Language
Models", arXiv 2012.07805): sample many generations from the model, rank them by how much more likely
the model finds them than a generic measure of their information does, and check which are verbatim
training text. Membership metrics, per generation (lower = more likely memorised):

- "perplexity": the model's log-perplexity per character;
- "zlib": log-perplexity divided by the zlib-compressed size (text that is improbably likely for how
  much information it carries);
- "reference": the model's log-perplexity minus a reference model's (one that did not train on the
  data; Carlini et al. use a smaller model), when one is given.

Reports which generations contain PII (US SSN pattern) and which inserted secrets came back verbatim.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.models.gpt import CharGPT, CharVocab

SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


@torch.no_grad()
def sample_lines(
    model: CharGPT, vocab: CharVocab, *, n: int, length: int, top_k: int, generator: torch.Generator, start: str = "\n"
) -> list[str]:
    """`n` generations of up to `length` characters after `start`, top-k sampling; each cut at its first newline."""
    ids = torch.as_tensor(np.tile(vocab.encode(start), (n, 1)), dtype=torch.long)
    for _ in range(length):
        logits = model(ids[:, -model.context :])[:, -1].double()
        top, idx = logits.topk(min(top_k, logits.shape[-1]), dim=-1)
        pick = torch.multinomial(torch.softmax(top, -1), 1, generator=generator)
        ids = torch.cat([ids, idx.gather(-1, pick)], dim=1)
    out = []
    for row in ids[:, len(start) :].tolist():
        text = "".join(vocab.chars[i] for i in row)
        out.append(text.split("\n", 1)[0])
    return out


def zlib_bits(text: str) -> float:
    return 8.0 * len(zlib.compress(text.encode()))


@dataclass(frozen=True)
class Extraction:
    text: str
    score: float  # the ranking metric, lower = more likely memorised
    verbatim: bool  # the whole generation occurs in the training text
    pii: tuple[str, ...]  # SSN-shaped strings in it


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
        Extraction(texts[i], float(score[i]), texts[i] in training_text, tuple(SSN.findall(texts[i]))) for i in order
    ]


def precision_at(ranked: list[Extraction], k: int = 100) -> float:
    """Share of the top `k` ranked generations that are verbatim training text."""
    top = ranked[:k]
    return float(np.mean([e.verbatim for e in top])) if top else 0.0


def recovered_secrets(ranked: list[Extraction], secrets: list[str]) -> list[str]:
    """Inserted secrets that appear verbatim in some generation."""
    found = {p for e in ranked for p in e.pii}
    return [s for s in secrets if s in found]


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
    rank = {s: next(i for i, e in enumerate(ranked) if s in e.pii) + 1 for s in found}
    hits = sum(e.verbatim for e in ranked[:k])
    lo, hi = clopper_pearson(hits, min(k, len(ranked))) if ranked else (0.0, 1.0)
    pii = sorted({p for e in ranked for p in e.pii})
    metrics = {
        f"precision_at_{k}": Metric(
            precision_at(ranked, k), lo, hi, "verbatim in the training text, Clopper-Pearson 95%"
        ),
        "secrets_recovered": Metric(float(len(found)), method=f"of {sum(1 for c in secrets.values() if c)} inserted"),
        "distinct_generations": Metric(float(len(ranked)), method=f"of {n_generations} sampled"),
        "pii_strings_generated": Metric(float(len(pii)), method="distinct SSN-shaped strings in the generations"),
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
            Artifact.table(f"Top 20 generations by {metric}", ["rank", "generation", "score", "verbatim", "PII"], top),
            Artifact.table(
                "PII (SSN-shaped strings) in the generations",
                ["string", "an inserted secret", "generations containing it"],
                [[p, "yes" if p in secrets else "no", sum(p in e.pii for e in ranked)] for p in pii],
            ),
        ),
        config={"generations": n_generations, "metric": metric, "k": k, "queries": n_generations},
        seed=seed,
        duration_s=round(duration_s, 3),
        versions=versions(),
    )
