"""Causal language models: top-k sampling with a KV cache, and fine-tuning with a recipe (TrainConfig:
optimizer, lr, schedule, epochs, batch size, weight decay) as a user fine-tunes a public base on
documents: next-token cross-entropy on each document (BOS first, cut at `max_length` tokens), shuffled
padded batches (padding ignored by the loss and the attention), only the parameters that require
gradients (a frozen base with trainable top blocks or LoRA adapters) updated."""

from __future__ import annotations

from typing import Any

import torch

from mlaudit.errors import InputError
from mlaudit.models.train import TrainConfig


def finetune_causal_lm(
    model: Any, tok: Any, docs: list[str], config: TrainConfig, *, max_length: int, generator: torch.Generator
) -> Any:
    """Train `model` in place on `docs`; returns it in eval mode."""
    rows = [document_ids(tok, d)[:max_length] for d in docs]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = config.make_optimizer(params)
    schedule = config.make_schedule(opt)
    model.train()
    for _ in range(config.epochs):
        for idx in torch.randperm(len(rows), generator=generator).split(config.batch_size):
            ids, labels = pad_rows([rows[i] for i in idx.tolist()])
            loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if schedule is not None:
            schedule.step()
    return model.eval()


def document_ids(tok: Any, text: str) -> list[int]:
    """A document's token ids after the tokenizer's BOS token where it has one (so its first token is
    trained on and scored too)."""
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return bos + list(tok(text, add_special_tokens=False)["input_ids"])


def pad_rows(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows right-padded to the longest: (ids with 0 as padding, labels with -100 there)."""
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = labels[k, : len(r)] = torch.as_tensor(r)
    return ids, labels


@torch.no_grad()
def sample(
    model: Any,
    tok: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    top_k: int,
    generator: torch.Generator,
    bos: bool = True,
) -> list[str]:
    """Top-k sampling with a KV cache, one continuation per prompt (prompts of one token length are
    batched together; the draws come from `generator`, so runs are reproducible). With `bos`, each prompt
    follows the tokenizer's BOS token where it has one; an empty prompt without one starts from a
    newline (the start of a document)."""
    from transformers import DynamicCache

    out: list[str] = [""] * len(prompts)
    first = [tok.bos_token_id] if bos and tok.bos_token_id is not None else []
    encoded = [first + tok(p or ("" if first else "\n"), add_special_tokens=False)["input_ids"] for p in prompts]
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(encoded):
        if not e:
            raise InputError(f"prompt {i} gives no tokens; give a prompt")
        groups.setdefault(len(e), []).append(i)
    for _, idx in sorted(groups.items()):
        ids = torch.as_tensor([encoded[i] for i in idx])
        cache = DynamicCache(config=model.config)
        res = model(input_ids=ids, past_key_values=cache, use_cache=True)
        new = []
        for _ in range(max_new_tokens):
            top, cand = res.logits[:, -1].double().topk(min(top_k, res.logits.shape[-1]), dim=-1)
            pick = cand.gather(-1, torch.multinomial(torch.softmax(top, -1), 1, generator=generator))
            new.append(pick)
            res = model(input_ids=pick, past_key_values=res.past_key_values, use_cache=True)
        for i, r in zip(idx, torch.cat(new, 1).tolist(), strict=True):
            out[i] = tok.decode(r, skip_special_tokens=True)
    return out
