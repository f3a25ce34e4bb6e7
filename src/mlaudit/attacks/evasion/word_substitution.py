"""Gradient-guided word substitution against a text classifier (HotFlip's first-order swap score,
Ebrahimi et al. 2018, arXiv 1712.06751, under TextFooler's embedding-similarity constraint,
Jin et al. 2020, arXiv 1907.11932).

A word may only be swapped for a whole-word vocabulary token whose input embedding has cosine
similarity >= `min_similarity` with it (its `n_candidates` nearest). Each round scores every allowed
swap by (e_new - e_old) . grad of the loss at the current sentence, evaluates the `n_eval` best
exactly, and keeps the one that lowers the true class's margin most; it stops when the label flips
or `max_changed` of the words have been changed.

Registered as "word-substitution": on a text classifier the auditor holds (Target.differentiable gives
the module and its tokenizer), the held-out texts are attacked and the share of correct predictions
flipped is the finding (its severity follows the threat model: a weight holder's result counts in full
only where the threat model grants gradients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mlaudit.attacks.base import AttackInputs, Stamp
from mlaudit.attacks.evasion.finding import rate, success_severity
from mlaudit.errors import InputError
from mlaudit.findings import Artifact, Finding, Metric, Severity
from mlaudit.requirements import Requires
from mlaudit.targets.base import Target
from mlaudit.threat import Access


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


def check_wordpiece(tokenizer: object) -> None:
    """Whole words are found by WordPiece's "##" continuation pieces (BERT, MiniLM); another tokenizer
    would leave no word to swap and report a robust model that was never attacked."""
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
    if not any(t.startswith("##") for t in vocab):
        raise InputError(
            f"word substitution needs a WordPiece tokenizer (BERT-style '##' pieces); {type(tokenizer).__name__} "
            "has none, so no word could be swapped: drop word-substitution from attacks for this model"
        )


@dataclass(frozen=True)
class WordSubstitutionResult:
    """What the attack measured (step one of three: result, severity policy, rendering)."""

    outcomes: tuple[TextAdversarial, ...]
    max_changed: float
    min_similarity: float

    @property
    def attacked(self) -> list[TextAdversarial]:
        """The texts the model classified correctly: only those can be flipped."""
        return [o for o in self.outcomes if o.attacked]

    @property
    def flipped(self) -> list[TextAdversarial]:
        return [o for o in self.attacked if o.success]


def word_substitution_severity(r: WordSubstitutionResult, access: Access) -> Severity:
    """The policy: the share flipped (as for image evasion) where the threat model grants gradients;
    without them the figure is what a holder of the weights achieves, so it stays at most LOW."""
    share = len(r.flipped) / max(len(r.attacked), 1)
    if access >= Access.GRADIENTS:
        return success_severity(share)
    return Severity.LOW if share > 0.05 else Severity.INFO


def render_word_substitution(r: WordSubstitutionResult, severity: Severity, stamp: Stamp) -> Finding:
    """The Finding for a measured result and the severity the policy gave it."""
    n, k = len(r.attacked), len(r.flipped)
    success = rate(k, n, "Clopper-Pearson 95%, over the correctly classified texts")
    changed = [o.words_changed / max(o.n_words, 1) for o in r.flipped]
    metrics = {
        "success_rate": success,
        "clean_accuracy": rate(n, len(r.outcomes), "held-out texts classified correctly"),
        "median_words_changed": Metric(
            float(np.median(changed)) if changed else float("nan"), method="share of a flipped text's words swapped"
        ),
        "mean_queries": Metric(
            float(np.mean([o.queries for o in r.attacked])) if n else float("nan"),
            method="forward passes per attacked text (white-box, through the weights: not counted queries)",
        ),
    }
    rows = [[o.original, o.adversarial, o.label, o.words_changed] for o in r.flipped[:8]]
    table = Artifact(
        "table",
        f"Texts flipped by swapping at most {r.max_changed:.0%} of their words (up to 8)",
        {"columns": ["original", "adversarial", "true label", "words changed"], "rows": rows},
    )
    return stamp.finish(
        title="Word substitution on the text classifier (HotFlip swaps under a TextFooler-style constraint)",
        summary=f"Swapping at most {r.max_changed:.0%} of the words for embedding neighbours (cosine >= "
        f"{r.min_similarity}) flips {k} of {n} correctly classified held-out texts ({success.value:.1%}).",
        metrics=metrics,
        severity=severity,
        artifacts=(table,) if rows else (),
    )


@dataclass(frozen=True)
class WordSubstitution:
    """Word substitution on held-out texts: the share of correct predictions flipped by swapping a few
    words for embedding neighbours; severity follows the gradients access the threat model grants."""

    n_examples: int | None = None  # None: the profile's (quick 20, full 100)
    max_changed: float = 0.25
    min_similarity: float = 0.5
    n_eval: int = 32  # swaps evaluated exactly per round, the best by the first-order score
    name: ClassVar[str] = "word-substitution"
    category: ClassVar[str] = "evasion"
    requires: ClassVar[Requires] = Requires(Access.GRADIENTS, modalities=frozenset({"text"}), auditor=True)

    def run(self, target: Target, inputs: AttackInputs, *, seed: int) -> Finding:
        data, tm = inputs.nonmembers, inputs.threat_model or target.threat_model
        if data is None:
            raise InputError("word substitution needs held-out texts; set data.nonmembers")
        handle = target.differentiable()
        model, tokenizer = getattr(handle, "model", None), getattr(handle, "tokenizer", None)
        if model is None or tokenizer is None or not hasattr(model, "get_input_embeddings"):
            raise InputError(
                f"word substitution needs a Hugging Face text classifier; {type(target).__name__} gives none"
            )
        check_wordpiece(tokenizer)
        n = self.n_examples or (100 if inputs.budget == "full" else 20)
        config = {
            "n_examples": n,
            "max_changed": self.max_changed,
            "min_similarity": self.min_similarity,
            "n_eval": self.n_eval,
        }
        stamp = Stamp(self, target, config, seed)
        outcomes = word_substitution(
            model, tokenizer, [str(t) for t in list(data.x)[:n]], np.asarray(data.y)[:n],
            max_changed=self.max_changed, min_similarity=self.min_similarity, n_eval=self.n_eval,
        )  # fmt: skip
        r = WordSubstitutionResult(tuple(outcomes), self.max_changed, self.min_similarity)
        return render_word_substitution(r, word_substitution_severity(r, tm.access), stamp)
