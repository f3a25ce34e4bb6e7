# mypy: disable-error-code="union-attr,operator,index,arg-type,assignment,type-var"
# (weight surgery on nn.Module attributes, which mypy types as Tensor | Module)
"""Data traps in the real pretrained all-MiniLM-L6-v2 (BERT, post-LayerNorm), after Feng & Tramer 2024
(sec. "transformers"; spec shared/research/privacy-backdoors.md sections 3-4).

The backdoored encoder is the clean one widened by reserved channels, with one attacker layer placed
before the six clean layers. It is still a plain `BertModel` (config and safetensors), one layer deeper.

- Embeddings: the benign channels hold the clean word, position and token-type embeddings; reserved
  channels hold a one-hot position code, C = 1e4 (in the token-type embedding, which every single-sentence
  input adds) and balance channels (minus the sum of the others). The embedding LayerNorm is linearised
  by C: it passes the raw sum word + position + type through.
- Layer 0, attention: W_Q = W_K = 0, so every token attends uniformly to the real tokens; W_V / W_O write
  a random projection of the mean embedding into the key channels. Every token carries the sentence key.
  The LayerNorm after it is linearised too, and turns C into the constant kappa.
- Layer 0, FFN, the traps: one unit per (group j, position k), with weights bait_j on the key channels
  and a gate on position channel k, biased at the calibrated tail of the bait scores, so it fires only at
  token k of the rare sentences whose key scores past the threshold. Its weights on the benign channels
  (the token's raw embedding) and on the kappa channel start at zero and only record the gradient: after
  fine-tuning, dW / (dW_kappa / kappa) is the captured token's word + position + type embedding, and the
  nearest word embedding decodes it. A firing writes a small signal into the benign channels, which is
  what gives the unit a gradient at all.
- Layer 0, FFN, erasure: pairs of units GELU(x) and GELU(-x), whose difference is exactly x, write minus
  the key, position and balance channels back, and a bias removes kappa. Its output LayerNorm is the clean
  embedding LayerNorm (gamma scaled by sqrt(384 / D)): the clean layers get the clean embeddings.
- The clean layers follow on the benign channels: zero rows and columns on the reserved ones, each head
  in the first 32 of its D / 12 dimensions (queries scaled to keep the attention temperature), and
  LayerNorm gamma scaled by sqrt(384 / D). A LayerNorm over D channels with the reserved ones at zero
  equals the clean one up to a term in (mean / std)^2 of the benign features, at most 0.08 in MiniLM.

No latch: a victim's fresh head for a two-class task gives the firing unit a loss gradient whose sign
depends on the label (the random-head amplifier closes a trap only when the label is not the class the
amplified signal favours, spec section 2), so these traps rely on their calibrated rarity instead: the
threshold is set so that about one victim sentence per group exceeds it, and the traps hardly move
(nothing amplifies the gradient), so they neither close nor open during fine-tuning. A group that two
sentences opened decodes to a mixture, which the residual of the nearest-embedding match shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.supplychain.privacy_backdoor.layernorm import Layout, balance, disjoint_baits, linearise
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec

TRAP_LAYER = "encoder.layer.0.intermediate.dense"


@dataclass(frozen=True)
class MiniLMTrapConfig:
    n_groups: int = 48
    max_length: int = 32  # token positions with a trap unit (the victim's truncation length)
    rate: float = 0.0025  # expected fraction of sentences that open a group (about 1 / victim set size)
    n_key: int = 24
    n_balance: int = 8
    big_c: float = 1e4  # the LayerNorm-linearising constant
    kappa: float = 1.0  # the constant in the recorded input that reads the bias change at full precision
    z_scale: float = 20.0  # pre-activation = z_scale * (score - threshold) / std(score): no GELU leak below it
    gate: float = 200.0  # position gate: tokens at other positions sit at -gate
    signal: float = 1e-3  # what a firing writes into the benign channels (its only path to the loss)


def tokenize(tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """Token ids (N, max_length), truncated and padded as the victim's pipeline does."""
    enc = tokenizer(
        [str(t) for t in texts], padding="max_length", truncation=True, max_length=max_length, return_tensors="np"
    )
    return np.asarray(enc["input_ids"], dtype=np.int64)


def build_minilm_traps(
    base: nn.Module,
    calib_ids: np.ndarray,
    *,
    cfg: MiniLMTrapConfig = MiniLMTrapConfig(),
    generator: np.random.Generator,
) -> tuple[Any, TrapSpec]:
    """Return the backdoored encoder (a `BertModel` one layer deeper and wider) and its trap spec.

    Args:
        base: the clean pretrained `BertModel` (all-MiniLM-L6-v2).
        calib_ids: the attacker's in-distribution sentences as token ids (N, max_length); they set each
            group's threshold.
    """
    model, g = _widened(base, cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        _embeddings(model, base, g, cfg)
        _key_attention(model, g, cfg, generator)
    keys = _keys(model, calib_ids, g.lay)
    # baits chosen in the whitened key space, so that the rare sentences they pick are spread out rather
    # than the few outliers of the raw keys; folded back into raw-key weights
    evals, evecs = np.linalg.eigh(np.cov(keys, rowvar=False))
    whiten = evecs / np.sqrt(np.maximum(evals, 1e-12 * evals.max()))  # (n_key, n_key)
    bait = disjoint_baits((keys - keys.mean(0)) @ whiten, cfg.n_groups, cfg.rate, generator) @ whiten.T
    scores = keys @ bait.T
    theta = np.quantile(scores, 1.0 - cfg.rate, axis=0)
    alpha = cfg.z_scale / scores.std(0)
    direction = generator.normal(size=(cfg.n_groups, g.benign))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    with torch.no_grad():
        _trap_ffn(model, base, g, cfg, bait, alpha, theta, direction)
        _clean_layers(model, base, g)
    n_len = cfg.max_length
    spec = TrapSpec(
        "minilm",
        TRAP_LAYER,
        "encoder.layer.0.output.dense",
        tuple(range(g.n_units)),
        (),
        0.0,
        (n_len,),
        tuple(float(t) for t in theta),
        config={"n_groups": cfg.n_groups, "max_length": n_len, "kappa": cfg.kappa, "layout": g.lay.__dict__},
    )
    return model.eval(), spec


@dataclass(frozen=True)
class _Geometry:
    """The widened encoder's sizes: the base's width, heads and FFN width, the trap units, the layout."""

    lay: Layout
    benign: int  # the base's width: channels [0, benign) carry the clean model
    heads: int
    inter0: int  # the base's FFN width
    n_units: int  # trap units: one per (group, token position after [CLS])
    erase: tuple[int, ...]  # reserved channels the trap layer's FFN erases

    @property
    def hd(self) -> int:
        return self.lay.dim // self.heads


def _widened(base: nn.Module, cfg: MiniLMTrapConfig) -> tuple[Any, _Geometry]:
    """An empty BertModel wide enough for the reserved channels and the trap units, one layer deeper."""
    from transformers import BertConfig, BertModel

    bc = base.config
    db, heads, inter0 = bc.hidden_size, bc.num_attention_heads, bc.intermediate_size
    n_len = cfg.max_length
    lay = Layout.plan(db, 0, cfg.n_key, n_len, cfg.n_balance, 0, heads)
    d, hd = lay.dim, lay.dim // heads
    if cfg.n_key > hd:
        raise ValueError(f"n_key={cfg.n_key} must fit in one head of {hd} dimensions")
    if n_len > bc.max_position_embeddings:
        raise ValueError(f"max_length={n_len} exceeds the model's {bc.max_position_embeddings} positions")
    n_units = cfg.n_groups * (n_len - 1)
    erase = tuple(lay.reserved_without_c())
    conf = BertConfig.from_dict(bc.to_dict())
    conf.hidden_size, conf.intermediate_size = d, max(inter0, n_units + 2 * len(erase))
    conf.num_hidden_layers = bc.num_hidden_layers + 1
    conf.hidden_dropout_prob = conf.attention_probs_dropout_prob = 0.0  # dropout would mask the capture
    return BertModel(conf, add_pooling_layer=False), _Geometry(lay, db, heads, inter0, n_units, erase)


def _embeddings(model: Any, base: nn.Module, g: _Geometry, cfg: MiniLMTrapConfig) -> None:
    """Clean benign part, position one-hot, C in the token-type rows, balance."""
    lay, B = g.lay, slice(0, g.benign)
    emb, src = model.embeddings, base.embeddings
    emb.word_embeddings.weight[:, B] = src.word_embeddings.weight
    emb.position_embeddings.weight[:, B] = src.position_embeddings.weight
    emb.token_type_embeddings.weight[:, B] = src.token_type_embeddings.weight
    for k in range(cfg.max_length):
        emb.position_embeddings.weight[k, lay.pos + k] = 1.0
    emb.token_type_embeddings.weight[:, lay.c] = cfg.big_c
    for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
        balance(table.weight, lay, dim=1)
    # C leaves the embedding LayerNorm at 0: every weight that read it would get a gradient C times too
    # large (the victim's first steps would turn W_V[:, c] into a key offset of thousands)
    linearise(emb.LayerNorm, lay, big=cfg.big_c, c_out=0.0)


def _key_attention(model: Any, g: _Geometry, cfg: MiniLMTrapConfig, generator: np.random.Generator) -> None:
    """Layer 0's attention: uniform (W_Q = W_K = 0); the sentence key in the key channels."""
    lay, layer = g.lay, model.encoder.layer[0]
    proj = generator.normal(size=(cfg.n_key, g.benign))
    proj /= np.linalg.norm(proj, axis=1, keepdims=True)
    layer.attention.self.value.weight[: cfg.n_key, : g.benign] = torch.as_tensor(proj, dtype=torch.float32)
    out = layer.attention.output
    for i in range(cfg.n_key):
        out.dense.weight[lay.key + i, i] = 1.0
    balance(out.dense.weight, lay)
    out.dense.bias[lay.c] = cfg.big_c  # C again, after the attention, for the next LayerNorm
    linearise(out.LayerNorm, lay, big=cfg.big_c, c_out=cfg.kappa)


def _trap_ffn(
    model: Any, base: nn.Module, g: _Geometry, cfg: MiniLMTrapConfig,
    bait: np.ndarray, alpha: np.ndarray, theta: np.ndarray, direction: np.ndarray,
) -> None:  # fmt: skip
    """Layer 0's FFN: a unit per (group j, token k) that writes a random direction into the benign
    channels when it fires; erasure units; the clean embedding LayerNorm after it."""
    lay, B, n_len = g.lay, slice(0, g.benign), cfg.max_length
    layer = model.encoder.layer[0]
    fc1, fc2 = layer.intermediate.dense, layer.output.dense
    for j in range(cfg.n_groups):
        for k in range(1, n_len):
            u = j * (n_len - 1) + (k - 1)
            fc1.weight[u, lay.key : lay.key + cfg.n_key] = torch.as_tensor(alpha[j] * bait[j], dtype=torch.float32)
            fc1.weight[u, lay.pos + k] = cfg.gate
            fc1.bias[u] = float(-alpha[j] * theta[j] - cfg.gate)
            fc2.weight[B, u] = torch.as_tensor(cfg.signal * direction[j], dtype=torch.float32)
    # erasure: GELU(x) - GELU(-x) = x exactly, so two units per channel write -x back. No unit carries
    # a constant activation the victim's training could turn into a feature of every sentence.
    for i, ch in enumerate(g.erase):
        for sign, u in ((1.0, g.n_units + 2 * i), (-1.0, g.n_units + 2 * i + 1)):
            fc1.weight[u, ch] = sign
            fc2.weight[ch, u] = -sign
    fc2.bias[lay.c] = -cfg.kappa
    src = base.embeddings
    layer.output.LayerNorm.weight[B] = src.LayerNorm.weight * math.sqrt(g.benign / lay.dim)
    layer.output.LayerNorm.bias[B] = src.LayerNorm.bias


def _clean_layers(model: Any, base: nn.Module, g: _Geometry) -> None:
    """The clean layers on the benign channels, each head's dimensions at the start of its wider head."""
    B, hd, hd0, heads, inter0 = slice(0, g.benign), g.hd, g.benign // g.heads, g.heads, g.inter0
    ln_scale = math.sqrt(g.benign / g.lay.dim)
    q_scale = math.sqrt(hd / hd0)  # the clean attention temperature 1 / sqrt(32) in heads of hd dims
    for i, s in enumerate(base.encoder.layer):
        t = model.encoder.layer[i + 1]
        for name, scale in (("query", q_scale), ("key", 1.0), ("value", 1.0)):
            dst, sl = getattr(t.attention.self, name), getattr(s.attention.self, name)
            for h in range(heads):
                rows, rows0 = slice(h * hd, h * hd + hd0), slice(h * hd0, (h + 1) * hd0)
                dst.weight[rows, B] = sl.weight[rows0] * scale
                dst.bias[rows] = sl.bias[rows0] * scale
        for h in range(heads):
            t.attention.output.dense.weight[B, h * hd : h * hd + hd0] = s.attention.output.dense.weight[
                :, h * hd0 : (h + 1) * hd0
            ]
        t.attention.output.dense.bias[B] = s.attention.output.dense.bias
        t.intermediate.dense.weight[:inter0, B] = s.intermediate.dense.weight
        t.intermediate.dense.bias[:inter0] = s.intermediate.dense.bias
        t.output.dense.weight[B, :inter0] = s.output.dense.weight
        t.output.dense.bias[B] = s.output.dense.bias
        for ln_t, ln_s in (
            (t.attention.output.LayerNorm, s.attention.output.LayerNorm),
            (t.output.LayerNorm, s.output.LayerNorm),
        ):
            ln_t.weight[B] = ln_s.weight * ln_scale
            ln_t.bias[B] = ln_s.bias


def _keys(model: nn.Module, ids: np.ndarray, lay: Layout, batch: int = 64) -> np.ndarray:
    """The sentence key every token carries at the trap layer's FFN input (read at token 0)."""
    out: list[np.ndarray] = []
    pad = int(model.config.pad_token_id or 0)

    class _Stop(Exception):  # the rest of the model is not needed
        pass

    def grab(_m: nn.Module, i: tuple[torch.Tensor, ...]) -> None:
        out.append(i[0][:, 0, lay.key : lay.key + lay.n_key].double().numpy())
        raise _Stop

    h = dict(model.named_modules())[TRAP_LAYER].register_forward_pre_hook(grab)
    try:
        with torch.no_grad():
            for s in range(0, len(ids), batch):
                x = torch.as_tensor(ids[s : s + batch])
                try:
                    model(input_ids=x, attention_mask=(x != pad).long())
                except _Stop:
                    pass
    finally:
        h.remove()
    return np.concatenate(out)


@dataclass(frozen=True)
class TextReconstruction:
    ids: np.ndarray  # (G, max_length): decoded token id per position, -1 where the unit never fired (and at 0)
    residual: np.ndarray  # (G, max_length): |recorded - nearest dictionary entry| / |recorded|; NaN unfired
    fired: np.ndarray  # (G,) bool: some unit of the group recorded a token


def reconstruct_minilm(
    before: dict[str, np.ndarray], after: dict[str, np.ndarray], spec: TrapSpec
) -> TextReconstruction:
    """Per unit (group j, position k): the recorded input dW / (dW_kappa / kappa) on the benign channels is
    word + position_k + type_0; the word is the nearest word embedding (spec section 4)."""
    cfg = spec.config or {}
    lay = Layout(**cfg["layout"])
    g, n_len, kappa = cfg["n_groups"], cfg["max_length"], cfg["kappa"]
    n_units = g * (n_len - 1)
    w0 = before[f"{spec.layer}.weight"][:n_units].astype(np.float64)
    dw = after[f"{spec.layer}.weight"][:n_units].astype(np.float64) - w0
    db = dw[:, lay.c] / kappa
    fired = db != 0  # the kappa weight starts at exactly 0 and only a gradient through the unit moves it
    words = before["embeddings.word_embeddings.weight"][:, : lay.benign].astype(np.float64)
    pos = before["embeddings.position_embeddings.weight"][:n_len, : lay.benign].astype(np.float64)
    type0 = before["embeddings.token_type_embeddings.weight"][0, : lay.benign].astype(np.float64)
    ids = np.full((g, n_len), -1, np.int64)
    res = np.full((g, n_len), np.nan)
    units = np.flatnonzero(fired)
    if units.size:
        k = units % (n_len - 1) + 1
        target = dw[units, : lay.benign] / db[units, None] - pos[k] - type0
        d2 = (words**2).sum(1)[None, :] - 2.0 * target @ words.T + (target**2).sum(1)[:, None]
        best = d2.argmin(1)
        ids[units // (n_len - 1), k] = best
        res[units // (n_len - 1), k] = np.sqrt(np.maximum(d2[np.arange(len(units)), best], 0.0)) / np.maximum(
            np.linalg.norm(target, axis=1), 1e-12
        )
    return TextReconstruction(ids, res, fired.reshape(g, n_len - 1).any(1))


@dataclass(frozen=True)
class SentenceMatch:
    group: int
    example: int  # the private sentence whose tokens the group's decoding matches best
    exact: float  # share of that sentence's tokens (special tokens aside) decoded exactly, at their positions
    tokens: int


def match_sentences(rec: TextReconstruction, private_ids: np.ndarray, special: set[int]) -> list[SentenceMatch]:
    """Best private sentence per fired group, by the share of its non-special tokens decoded exactly."""
    out = []
    ids = private_ids[:, : rec.ids.shape[1]]
    real = ~np.isin(ids, list(special))
    real[:, 0] = False  # position 0 has no trap unit ([CLS])
    n_real = real.sum(1)
    for j in np.flatnonzero(rec.fired):
        hit = ((ids == rec.ids[j][None, :]) & real).sum(1)
        share = hit / np.maximum(n_real, 1)
        i = int(share.argmax())
        out.append(SentenceMatch(int(j), i, float(share[i]), int(n_real[i])))
    return out


def load_encoder(path: Any = None) -> tuple[Any, Any]:
    """(BertModel without pooler, tokenizer) from a local Hugging Face folder, all-MiniLM-L6-v2 by
    default: safetensors only, no remote code, never a hub."""
    from transformers import BertModel

    p, tok = _checked(path)
    enc = BertModel.from_pretrained(
        p, local_files_only=True, trust_remote_code=False, use_safetensors=True, add_pooling_layer=False
    )
    return enc.eval(), tok


def load_tokenizer(path: Any = None) -> Any:
    """The tokenizer of the folder `load_encoder` reads, without loading the model."""
    return _checked(path)[1]


def _checked(path: Any) -> tuple[Any, Any]:
    """(the folder, checked: safetensors only, no custom code; its tokenizer)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer
    from transformers import logging as hf_logging

    from mlaudit.targets.huggingface import check_folder, minilm_path

    p = minilm_path() if path is None else path
    check_folder(p)
    hf_logging.set_verbosity_error()  # "weights not used: pooler" is expected
    hf_logging.disable_progress_bar()
    return p, AutoTokenizer.from_pretrained(p, local_files_only=True, trust_remote_code=False)


def decode(rec: TextReconstruction, tokenizer: Any) -> list[str]:
    """Each group's decoded sentence, up to its first [SEP] (positions never recorded are skipped)."""
    sep = tokenizer.sep_token_id
    out = []
    for row in rec.ids:
        toks = [int(t) for t in row if t >= 0]
        if sep in toks:
            toks = toks[: toks.index(sep)]
        out.append(tokenizer.decode(toks))
    return out
