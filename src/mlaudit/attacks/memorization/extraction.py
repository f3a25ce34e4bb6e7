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
