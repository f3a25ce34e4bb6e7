"""A small character-level GPT (decoder-only transformer), trained here from scratch in seconds on a
CPU: the "small GPT" of the memorisation audits, whose training text we control exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class CharVocab:
    """Characters <-> ids; characters outside the vocabulary are refused, not dropped."""

    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise ValueError(f"characters {missing!r} are not in the vocabulary")
        return np.array([self.index[c] for c in text], dtype=np.int64)


class CharGPT(nn.Module):
    def __init__(self, vocab_size: int, *, d_model: int = 128, layers: int = 2, heads: int = 4, context: int = 64):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids, T <= context -> (B, T, vocab) next-token logits."""
        t = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        mask: torch.Tensor = self.mask  # type: ignore[assignment]
        h = self.blocks(h, mask=mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LMTrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3


def train_lm(model: CharGPT, ids: np.ndarray, config: LMTrainConfig, *, generator: torch.Generator) -> CharGPT:
    """Next-character cross-entropy on random windows of `ids`; windows drawn from `generator`."""
    data = torch.as_tensor(ids, dtype=torch.long)
    t = model.context
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    model.train()
    for _ in range(config.steps):
        start = torch.randint(0, len(data) - t - 1, (config.batch_size,), generator=generator)
        x = torch.stack([data[s : s + t] for s in start.tolist()])
        y = torch.stack([data[s + 1 : s + t + 1] for s in start.tolist()])
        loss = nn.functional.cross_entropy(model(x).reshape(-1, model.head.out_features), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def log_perplexity(model: CharGPT, prefix: np.ndarray, candidates: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """-log2 P(candidate | prefix) in bits for each row of `candidates` (M, L) of token ids. (M,)"""
    m, length = candidates.shape
    full = np.concatenate([np.broadcast_to(prefix, (m, len(prefix))), candidates], axis=1)
    full = full[:, -(model.context + 1) :] if full.shape[1] > model.context + 1 else full
    out = np.empty(m)
    for i in range(0, m, batch_size):
        x = torch.as_tensor(full[i : i + batch_size], dtype=torch.long)
        logp = torch.log_softmax(model(x[:, :-1]).double(), dim=-1)
        tgt = x[:, 1:]
        lp = logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)[:, -length:]  # the candidate's own characters
        out[i : i + batch_size] = (-lp.sum(1) / np.log(2)).numpy()
    return out


def text_bits(model: CharGPT, vocab: CharVocab, texts: list[str], *, prefix: str = "\n") -> np.ndarray:
    """Total log-perplexity in bits of each text after `prefix` (texts grouped by length). Texts must
    fit the context with the prefix."""
    p = vocab.encode(prefix)
    out = np.empty(len(texts))
    by_len: dict[int, list[int]] = {}
    for i, t in enumerate(texts):
        if len(t) + len(p) > model.context + 1:
            raise ValueError(f"text of {len(t)} characters does not fit the context of {model.context}")
        by_len.setdefault(len(t), []).append(i)
    for idx in by_len.values():
        out[idx] = log_perplexity(model, p, np.stack([vocab.encode(texts[i]) for i in idx]))
    return out
