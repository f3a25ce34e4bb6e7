"""Causal-LM fine-tuning with a recipe (TrainConfig: optimizer, lr, schedule, epochs, batch size, weight
decay), as a user fine-tunes a public base on documents: next-token cross-entropy on each document (BOS
first, cut at `max_length` tokens), shuffled padded batches (padding ignored by the loss and the
attention), only the parameters that require gradients (a frozen base with trainable top blocks or LoRA
adapters) updated."""

from __future__ import annotations

from typing import Any

import torch

from mlaudit.models.train import TrainConfig


def finetune_causal_lm(
    model: Any, tok: Any, docs: list[str], config: TrainConfig, *, max_length: int, generator: torch.Generator
) -> Any:
    """Train `model` in place on `docs`; returns it in eval mode."""
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    rows = [(bos + tok(d, add_special_tokens=False)["input_ids"])[:max_length] for d in docs]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = config.make_optimizer(params)
    schedule = config.make_schedule(opt)
    model.train()
    for _ in range(config.epochs):
        for idx in torch.randperm(len(rows), generator=generator).split(config.batch_size):
            width = max(len(rows[i]) for i in idx)
            ids = torch.zeros(len(idx), width, dtype=torch.long)
            labels = torch.full((len(idx), width), -100)
            for k, i in enumerate(idx.tolist()):
                ids[k, : len(rows[i])] = labels[k, : len(rows[i])] = torch.as_tensor(rows[i])
            loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if schedule is not None:
            schedule.step()
    return model.eval()
