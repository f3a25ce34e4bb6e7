"""Gradient-guided word substitution against a text classifier (HotFlip's first-order swap score,
Ebrahimi et al. 2018, arXiv 1712.06751, under TextFooler's embedding-similarity constraint,
Jin et al. 2020, arXiv 1907.11932).

A word may only be swapped for a whole-word vocabulary token whose input embedding has cosine
similarity >= `min_similarity` with it (its `n_candidates` nearest). Each round scores every allowed
swap by (e_new - e_old) . grad of the loss at the current sentence, evaluates the `n_eval` best
exactly, and keeps the one that lowers the true class's margin most; it stops when the label flips
or `max_changed` of the words have been changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class TextAdversarial:
    original: str
    adversarial: str
    label: int
    success: bool
    words_changed: int
    n_words: int
    queries: int
    attacked: bool = True  # False: the model already misclassified the original


class Neighbours:
    """Nearest whole-word tokens of each token in the model's input-embedding space (cosine)."""

    def __init__(self, model: nn.Module, tokenizer: object, *, n_candidates: int = 30, min_similarity: float = 0.5):
        emb = model.get_input_embeddings().weight.detach()  # type: ignore[operator]
        self.emb = emb
        vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
        words = [(t, i) for t, i in vocab.items() if t.isalpha() and t.islower() and len(t) > 2]
        self.word_ids = torch.tensor([i for _, i in words])
        self.unit = F.normalize(emb[self.word_ids], dim=1)
        self.n_candidates, self.min_similarity = n_candidates, min_similarity

    def __call__(self, token_id: int) -> list[int]:
        sim = self.unit @ F.normalize(self.emb[token_id], dim=0)
        top = sim.topk(self.n_candidates + 1)
        return [
            int(self.word_ids[j])
            for s, j in zip(top.values, top.indices, strict=True)
            if float(s) >= self.min_similarity and int(self.word_ids[j]) != token_id
        ]


def _margin(logits: torch.Tensor, y: int) -> torch.Tensor:
    other = logits.clone()
    other[:, y] = -torch.inf
    return logits[:, y] - other.amax(1)


def attack_sentence(
    model: nn.Module,
    tokenizer: object,
    text: str,
    label: int,
    neighbours: Neighbours,
    *,
    max_changed: float = 0.25,
    n_eval: int = 32,
) -> TextAdversarial:
    ids = tokenizer(text, truncation=True, max_length=64, return_tensors="pt")["input_ids"][0]  # type: ignore[operator]
    toks = tokenizer.convert_ids_to_tokens(ids.tolist())  # type: ignore[attr-defined]
    # whole words only: an alphabetic token not followed by a "##" continuation piece
    whole = [i for i, t in enumerate(toks) if t.isalpha() and not (i + 1 < len(toks) and toks[i + 1].startswith("##"))]
    allowed = {i: c for i in whole if (c := neighbours(int(ids[i])))}
    n_words = len(text.split())
    budget, queries = max(1, int(max_changed * n_words)), 0
    changed: set[int] = set()
    emb = model.get_input_embeddings()  # type: ignore[operator]
    cur = ids.clone()
    for _ in range(budget + 1):
        e = emb(cur[None]).detach().requires_grad_(True)
        logits = model(inputs_embeds=e).logits
        queries += 1
        if int(logits.argmax(1)) != label:
            break
        if len(changed) >= budget:
            break
        (g,) = torch.autograd.grad(-_margin(logits, label).sum(), e)
        cands = [(i, w) for i, ws in allowed.items() if i not in changed for w in ws]
        if not cands:
            break
        pos = torch.tensor([i for i, _ in cands])
        new = torch.tensor([w for _, w in cands])
        gain = ((emb.weight[new] - emb.weight[cur[pos]]) * g[0, pos]).sum(1)
        best = gain.topk(min(n_eval, len(cands))).indices
        trial = cur.repeat(len(best), 1)
        trial[torch.arange(len(best)), pos[best]] = new[best]
        with torch.no_grad():
            m = _margin(model(input_ids=trial).logits, label)
        queries += len(best)
        k = int(m.argmin())
        cur = trial[k]
        changed.add(int(pos[best[k]]))
    with torch.no_grad():
        success = int(model(input_ids=cur[None]).logits.argmax(1)) != label
    adv = tokenizer.decode(cur, skip_special_tokens=True)  # type: ignore[attr-defined]
    return TextAdversarial(text, adv, label, success, len(changed), n_words, queries)


def word_substitution(
    model: nn.Module, tokenizer: object, texts: list[str], labels: np.ndarray, **kw: float
) -> list[TextAdversarial]:
    """Attack each sentence the model classifies correctly (others are returned as not attacked)."""
    nb = Neighbours(model, tokenizer, min_similarity=float(kw.pop("min_similarity", 0.5)))
    model.eval()
    out = []
    for t, y in zip(texts, labels, strict=True):
        with torch.no_grad():
            enc = tokenizer(t, truncation=True, max_length=64, return_tensors="pt")  # type: ignore[operator]
            correct = int(model(**enc).logits.argmax(1)) == int(y)
        if correct:
            out.append(attack_sentence(model, tokenizer, t, int(y), nb, **kw))  # type: ignore[arg-type]
        else:
            out.append(TextAdversarial(t, t, int(y), False, 0, len(t.split()), 1, attacked=False))
    return out
