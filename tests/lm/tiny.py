"""A tiny causal LM for tests: a character tokenizer (tokenizers, saved as a fast tokenizer) and a
two-layer Llama, trained here on documents, saved with save_pretrained (safetensors) like a user's model."""

from __future__ import annotations

from pathlib import Path

import torch

CHARS = "abcdefghijklmnopqrstuvwxyz ,.'-0123456789:;!?ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "<unk>": 1, "<pad>": 2, **{c: i + 3 for i, c in enumerate(CHARS)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", unk_token="<unk>", pad_token="<pad>")


def model(seed: int = 0, *, hidden: int = 48, layers: int = 2):  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(CHARS) + 3, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, bos_token_id=0, pad_token_id=2,
        eos_token_id=None, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval()


def train(m, tok, docs: list[str], *, epochs: int, seed: int, lr: float = 3e-3, batch: int = 16) -> None:  # type: ignore[no-untyped-def]
    """Plain next-token training on the documents: shuffled padded batches, Adam."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    rows = [[0] + tok(d, add_special_tokens=False)["input_ids"] for d in docs]
    m.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(rows), generator=g).split(batch):
            width = max(len(rows[i]) for i in idx)
            ids = torch.full((len(idx), width), 2)
            labels = torch.full((len(idx), width), -100)
            for k, i in enumerate(idx.tolist()):
                ids[k, : len(rows[i])] = labels[k, : len(rows[i])] = torch.as_tensor(rows[i])
            loss = m(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()


def save(m, tok, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    m.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder
