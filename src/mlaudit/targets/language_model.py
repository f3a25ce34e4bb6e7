"""Target adapter for a causal language model: a Hugging Face folder (safetensors), a PEFT/LoRA adapter
over its base folder, or a GGUF file (scanned, dequantised, cached as safetensors). Never remote code.

What it gives, each guarded by the threat model and counted (one query per document or prompt):
- `token_logprobs(texts)`: log p(x_t | x_<t) of every token of each document (an API that returns the
  prompt's log-probabilities: probabilities access);
- `token_statistics(texts)`: the same with the mean and standard deviation of log p under the model's
  own next-token distribution at each position (Min-K%++ needs them: the whole distribution, logits access);
- `generate(prompts, ...)`: sampled continuations (text only: labels access, the weakest).

Documents longer than `max_length` tokens are scored in windows of `max_length` with a stride of half
of it: every token after the first window is scored with at least `max_length / 2` tokens of context.
Windows are sorted by length and scored in padded batches of about `batch_tokens` tokens. With
`statistics`, every pass keeps the `token_statistics` too (an audit that runs Min-K%++ besides the
log-prob attacks then scores each document once, not twice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.data.formats import existing, is_causal_lm
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.models.causal_lm import document_ids, pad_rows, sample
from mlaudit.targets.base import Target
from mlaudit.targets.huggingface import check_adapter, check_folder, is_adapter
from mlaudit.threat import Access


@dataclass(frozen=True)
class TokenStatistics:
    """Per document, per scored token: log p(x_t | x_<t), and the mean and standard deviation of
    log p(z) for z drawn from the model's next-token distribution at t (natural logs)."""

    logprobs: list[np.ndarray]
    means: list[np.ndarray]
    stds: list[np.ndarray]


class LanguageModelTarget(Target):
    """A causal LM under audit. `num_classes` is its vocabulary size (its output is a next-token
    distribution); classifier attacks do not apply to it (the planner's modality "language")."""

    modality = "language"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        max_length: int = 512,
        batch_tokens: int = 4096,
        max_access: Access = Access.WEIGHTS,
        statistics: bool = False,
    ) -> None:
        self.max_access = max_access
        self.statistics = statistics  # every pass also keeps the Min-K%++ statistics (no second pass)
        super().__init__()
        if max_length < 4:
            raise InputError(f"target.max_length {max_length} is too short for a language model; use 64 or more")
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.num_classes = int(model.get_output_embeddings().weight.shape[0])
        self.max_length, self.batch_tokens = max_length, batch_tokens
        self._memo: dict[tuple[bool, str], tuple[np.ndarray, ...]] = {}

    # -- adapter hooks (Target's public methods guard and count) ---------------------------
    def _token_logprobs(self, texts: list[str]) -> list[np.ndarray]:
        return self._score(texts, stats=False).logprobs

    def _token_statistics(self, texts: list[str]) -> TokenStatistics:
        return self._score(texts, stats=True)

    def _generate(self, prompts: list[str], *, max_new_tokens: int, top_k: int, generator: Any) -> list[str]:
        return sample(self.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens, top_k=top_k,
                      generator=generator)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        n = sum(p.numel() for p in self.model.parameters())
        return {
            **super().describe(), "architecture": type(self.model).__name__, "parameters": n,
            "task": "causal language model", "vocabulary": self.num_classes, "max_length": self.max_length,
        }  # fmt: skip

    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    # -- scoring --------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """The document's token ids, after the tokenizer's BOS token where it has one."""
        return document_ids(self.tokenizer, text)

    def _score(self, texts: list[str], *, stats: bool) -> TokenStatistics:
        """Scores of each text, computed once per text (the attacks of one audit score the same
        documents; the memo is shared by the adversary's views, which still count every query)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InputError("a language model scores a list of documents (strings)")

        def known(t: str) -> tuple[np.ndarray, ...] | None:  # statistics hold the log-probs too
            return self._memo.get((True, t)) or (None if stats else self._memo.get((False, t)))

        todo = list(dict.fromkeys(t for t in texts if known(t) is None))
        if todo:
            keep = stats or self.statistics
            fresh = self._compute(todo, stats=keep)
            for i, t in enumerate(todo):
                self._memo[(keep, t)] = (fresh.logprobs[i], *((fresh.means[i], fresh.stds[i]) if keep else ()))
        got = [known(t) for t in texts]
        if not stats:
            return TokenStatistics([g[0] for g in got if g is not None], [], [])
        return TokenStatistics(*([g[k] for g in got if g is not None] for k in range(3)))

    def _compute(self, texts: list[str], *, stats: bool) -> TokenStatistics:
        jobs = []  # (document, window number, window ids, tokens scored from this position on)
        for d, text in enumerate(texts):
            ids = self.encode(text)
            if len(ids) < 2:
                raise InputError(f"document {d} ({text[:40]!r}) has fewer than 2 tokens; nothing to score")
            jobs += [(d, k, w, s) for k, (w, s) in enumerate(windows(ids, self.max_length))]
        parts: list[list[tuple[Any, ...]]] = [[] for _ in texts]
        order = sorted(range(len(jobs)), key=lambda i: len(jobs[i][2]))
        rows = max(1, self.batch_tokens // self.max_length)
        for start in range(0, len(order), rows):
            batch = [jobs[i] for i in order[start : start + rows]]
            for (d, k, _, s), out in zip(batch, _forward(self.model, [j[2] for j in batch], stats), strict=True):
                parts[d].append((k, *(a[s - 1 :] for a in out)))
        done = [sorted(p, key=lambda t: t[0]) for p in parts]  # each document's windows back in order
        lp = [np.concatenate([t[1] for t in p]) for p in done]
        if not stats:
            return TokenStatistics(lp, [], [])
        return TokenStatistics(lp, [np.concatenate([t[2] for t in p]) for p in done],
                               [np.concatenate([t[3] for t in p]) for p in done])  # fmt: skip


def windows(ids: list[int], length: int) -> list[tuple[list[int], int]]:
    """(window, first scored position in it) covering ids[1:] exactly once: the first window scores
    from position 1, each later one its last `length - length // 2` tokens (the rest is context)."""
    if len(ids) <= length:
        return [(ids, 1)]
    stride = length - length // 2
    out = [(ids[:length], 1)]
    end = length
    while end < len(ids):
        new_end = min(end + stride, len(ids))
        start = new_end - length
        out.append((ids[start:new_end], end - start))
        end = new_end
    return out


@torch.no_grad()
def _forward(model: Any, rows: list[list[int]], stats: bool) -> list[tuple[np.ndarray, ...]]:
    """Per row: log p of tokens 1..T-1 given the prefix (T-1,), and with `stats` the mean and std of
    the next-token log-probabilities at those positions. Right-padded, one forward pass."""
    ids, labels = pad_rows(rows)
    logits = model(input_ids=ids, attention_mask=(labels != -100).long()).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1)
    tok = logp.gather(-1, ids[:, 1:, None])[..., 0].double()
    out: list[tuple[np.ndarray, ...]] = []
    if stats:
        p = logp.exp()
        mean = (p * logp).sum(-1, keepdim=True)
        var = (p * (logp - mean).square()).sum(-1)  # around the mean: no cancellation in float32
        mu, sd = mean[..., 0].double(), var.double().clamp_min(0).sqrt()
    for i, r in enumerate(rows):
        n = len(r) - 1
        if stats:
            out.append((tok[i, :n].numpy(), mu[i, :n].numpy(), sd[i, :n].numpy()))
        else:
            out.append((tok[i, :n].numpy(),))
    return out


def load_language_model(
    path: str | Path, *, base: str | Path | None = None, cache: Path | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) of the causal LM at `path`: a folder (safetensors only), a PEFT adapter over
    `base` (merged), or a GGUF file (scanned first, dequantised to float32, kept in `cache` as a
    safetensors folder so later loads read safetensors only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    p = existing(path, "language model")
    if p.is_file():
        return _from_gguf(p, cache)
    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    if is_adapter(p):
        if base is None:
            raise InputError(
                f"{str(p)!r} is a PEFT adapter (adapter_config.json) without its base model; add base: "
                "{path: FOLDER} naming the local folder (or GGUF file) of the model it was trained on"
            )
        check_adapter(p)
        model, tok = load_language_model(base, cache=cache)
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, p, is_trainable=False).merge_and_unload()
        if (p / "tokenizer_config.json").is_file() or (p / "tokenizer.json").is_file():
            tok = AutoTokenizer.from_pretrained(p, **kw)
        return model.eval(), tok
    check_folder(p)
    if not is_causal_lm(p):
        raise InputError(f"{str(p)!r} is not a causal language model (config.json architectures: *ForCausalLM)")
    model = AutoModelForCausalLM.from_pretrained(p, use_safetensors=True, dtype=torch.float32, **kw)
    return model.eval(), AutoTokenizer.from_pretrained(p, **kw)


def _from_gguf(path: Path, cache: Path | None) -> tuple[Any, Any]:
    import copy
    import hashlib
    import importlib.util

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mlaudit.findings import Severity
    from mlaudit.supplychain.scan import scan_file

    if path.suffix != ".gguf":
        raise InputError(f"{str(path)!r} is a file but not a .gguf; a language model is a folder or a GGUF file")
    worst = scan_file(path).worst
    if worst >= Severity.HIGH:
        raise UnsafeFileError(f"the scanner flags {str(path)!r} at {worst.name.lower()} severity; run 'mlaudit scan'")
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = None if cache is None else cache / f"gguf-{key}"
    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    if folder is not None and (folder / "model.safetensors").is_file():
        model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, dtype=torch.float32, **kw)
        return model.eval(), AutoTokenizer.from_pretrained(folder, **kw)
    for need in ("gguf", "accelerate"):
        if importlib.util.find_spec(need) is None:
            raise InputError(f"loading a GGUF file needs the {need} package: pip install {need}")
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, **kw)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32, **kw)
    if folder is not None:
        from safetensors.torch import save_model

        folder.mkdir(parents=True, exist_ok=True)
        config = copy.deepcopy(model.config)
        config.architectures = [type(model).__name__]  # the GGUF loader leaves it unset: the folder says it
        if hasattr(config, "quantization_config"):  # the folder holds plain float32 weights, not GGUF tensors
            del config.quantization_config
        save_model(model, str(folder / "model.safetensors"))
        config.save_pretrained(folder)
        tok.save_pretrained(folder)
    return model.eval(), tok
