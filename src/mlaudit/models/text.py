"""Fine-tuning a Hugging Face sequence classifier (e.g. all-MiniLM-L6-v2 with a fresh head) on CPU.

Only the top `train_layers` encoder blocks, the pooler and the head are trained: the usual cheap
recipe for adapting a downloaded encoder, and the one that keeps a CPU run to minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.models.train import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextTrainConfig:
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    head_lr: float = 1e-3
    max_length: int = 48
    train_layers: int = 2
    train_embeddings: bool = False  # True for a model trained from scratch


def _trainable(
    model: nn.Module, train_layers: int, train_embeddings: bool = False
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(body parameters, head parameters) to train; everything else is frozen."""
    for p in model.parameters():
        p.requires_grad_(False)
    body: list[nn.Parameter] = []
    prefix = str(model.base_model_prefix)
    base = getattr(model, prefix)
    layers = base.encoder.layer
    for block in list(layers)[len(layers) - train_layers :] if train_layers else []:
        body += list(block.parameters())
    if train_embeddings:
        body += list(base.embeddings.parameters())
    if getattr(base, "pooler", None) is not None:
        body += list(base.pooler.parameters())
    head = [p for n, p in model.named_parameters() if not n.startswith(prefix + ".")]
    for p in body + head:
        p.requires_grad_(True)
    return body, head


def finetune_text(
    model: nn.Module,
    tokenizer: object,
    texts: list[str] | np.ndarray,
    labels: np.ndarray,
    config: TextTrainConfig,
    *,
    generator: torch.Generator,
) -> nn.Module:
    """Train in place with AdamW (body lr, head lr) on cross-entropy; return the model in eval mode.
    Shuffling and dropout both draw from `generator` (dropout through a torch RNG seeded from it and
    forked, so the caller's global RNG is untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        body, head = _trainable(model, config.train_layers, config.train_embeddings)
        opt = torch.optim.AdamW([{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_lr}])
        c = config
        _epochs(model, tokenizer, texts, labels, opt, None, c.epochs, c.batch_size, c.max_length, generator)
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()


class MeanPoolClassifier(nn.Module):
    """A sentence-transformers style classifier: a BERT encoder, the mean of its last hidden states over
    the real (non-padding) tokens, and a linear `head`. Takes token ids (batch, length); padding is
    `pad_id`. This is how all-MiniLM-L6-v2 is meant to be used (it was trained with mean pooling)."""

    def __init__(self, encoder: nn.Module, num_classes: int, *, pad_id: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.pad_id = pad_id
        self.head = nn.Linear(int(encoder.config.hidden_size), num_classes)  # type: ignore[union-attr,arg-type]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != self.pad_id).long()
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * m).sum(1) / m.sum(1).clamp(min=1.0))  # type: ignore[no-any-return]


def _epochs(
    model: nn.Module, tokenizer: object, texts: list[str] | np.ndarray, labels: np.ndarray,
    opt: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler | None, epochs: int, batch_size: int,
    max_length: int, generator: torch.Generator, label_smoothing: float = 0.0,
) -> None:  # fmt: skip
    """The fine-tuning loop both recipes share: shuffled batches (from `generator`), cross-entropy (with
    the recipe's label smoothing), one optimiser step per batch, the schedule stepped per epoch; the
    mean loss logged per epoch."""
    texts = [str(t) for t in texts]
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(texts), generator=generator).tolist()
        total = 0.0
        for i in range(0, len(texts), batch_size):
            idx = perm[i : i + batch_size]
            enc = tokenizer(  # type: ignore[operator]
                [texts[j] for j in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            loss = nn.functional.cross_entropy(model(**enc).logits, y[idx], label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if schedule is not None:
            schedule.step()
        log.info("text fine-tuning epoch %d: loss %.4f", epoch, total / len(texts))


def finetune_all(
    model: nn.Module,
    tokenizer: object,
    texts: list[str] | np.ndarray,
    labels: np.ndarray,
    config: TrainConfig,
    *,
    max_length: int,
    generator: torch.Generator,
) -> nn.Module:
    """Fine-tune every parameter that requires a gradient the way a user's plain transformers loop does
    (the recipe's optimizer, learning rate, schedule, epochs, batch size and label smoothing); shuffling
    and dropout draw from `generator`."""
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        opt = config.make_optimizer([p for p in model.parameters() if p.requires_grad])
        schedule = config.make_schedule(opt)
        _epochs(
            model, tokenizer, texts, labels, opt, schedule, config.epochs, config.batch_size, max_length, generator,
            config.label_smoothing,
        )  # fmt: skip
    return model.eval()


@torch.no_grad()
def text_logits(model: nn.Module, tokenizer: object, texts: Any, *, max_length: int, batch_size: int) -> torch.Tensor:
    """(N, C) logits of a sequence classifier on `texts`, tokenised and run in batches."""
    texts = [str(t) for t in texts]
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(  # type: ignore[operator]
            texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        out.append(model(**enc).logits)
    return torch.cat(out)


class TextModel:
    """A fine-tuned sequence classifier as reference code scores it: predict_proba on texts (softmax
    in float64 from the logits)."""

    def __init__(self, model: nn.Module, tokenizer: object, *, max_length: int, batch_size: int = 32) -> None:
        self.model, self.tokenizer, self.max_length, self.batch_size = model.eval(), tokenizer, max_length, batch_size

    def predict_proba(self, texts: Any) -> np.ndarray:
        logits = text_logits(self.model, self.tokenizer, texts, max_length=self.max_length, batch_size=self.batch_size)
        return torch.softmax(logits.double(), dim=1).numpy()  # type: ignore[no-any-return]
