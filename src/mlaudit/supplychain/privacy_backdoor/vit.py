# mypy: disable-error-code="union-attr,operator,index,arg-type,assignment"
# (weight surgery on nn.Module attributes, which mypy types as Tensor | Module)
"""Data traps in a small pre-norm ViT (Feng & Tramer 2024, sec. "transformers"; spec
shared/research/privacy-backdoors.md section 3), ported to mlaudit's ViT.

The backdoored model is the clean ViT widened by reserved channels and deepened by two attacker
blocks placed before the clean ones:

- embedding: reserved channels carry each patch's raw pixels (one-hot extractor rows), a one-hot
  position code, a constant C = 1e4 (which makes every LayerNorm of the attacker blocks an identity:
  gamma = sigma_C, beta = mu_C), and a balance channel that holds minus the sum of all the other
  non-C channels, so that the LayerNorm mean is exactly C / D and the linearisation has no offset;
- block 0 (backdoor): attention with W_Q = W_K = 0 averages a zero-sum random projection of the pixels
  over the tokens: every token carries the same image key. The FFN holds one unit per (trap group j,
  patch position k): bait_j on the key channels, a position gate that passes only at token k, and a
  bias at the calibrated tail of the bait scores. Its weights on the pixel channels start at zero and
  only record the gradient, so after one capture dW/db on those channels is the pixels of patch k;
- block 1 (amplifier and erasure): self-attention heads (position codes in W_Q = W_K, W_V = -1) erase
  the pixel, key, position and balance channels, uniform heads copy the trap signal into the CLS token,
  and an FFN unit per group thresholds it and writes it x gain into an output channel; an FFN bias
  removes C. The trap channels themselves stay (zero unless a trap fires);
- the clean blocks follow on the benign channels, with zero rows and columns on the reserved ones and
  their LayerNorm gamma scaled by sqrt(d_benign / D): with the reserved channels at zero, a LayerNorm
  over D channels equals the clean one up to a term in (mean / std)^2 of the benign features;
- the last clean block writes C back, so the final LayerNorm is linear and the amplified trap signal
  reaches the victim's fresh head undiminished: the first activation lowers the trap's bias by far more
  than its pre-activation (the latch), because its recorded input carries a constant kappa.

Reconstruction reads, per unit, dW / db on the pixel channels (db from the kappa channel, at full
precision) and tiles the patches into the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlaudit.models.vit import ViT
from mlaudit.supplychain.privacy_backdoor.layernorm import Layout, balance, disjoint_baits, linearise
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec


@dataclass(frozen=True)
class ViTTrapConfig:
    n_groups: int = 20
    rate: float = 0.0015  # expected fraction of images that exceed a group's threshold
    n_key: int = 32
    disjoint: float = 1.0  # bait top sets of this many x the expected activators must not intersect
    big_c: float = 1e4  # the LayerNorm-linearising constant
    n_balance: int = 12  # the balance sum is spread over this many channels, each small enough to erase
    final_c: float = 1e5  # C before the final LayerNorm: keeps it linear under the amplified signal
    # constant in the recorded input: the closing step is lr * g * kappa^2 / batch, and so is the opening step
    # when the label is the class the amplified signal favours (g < 0). 1500 rather than the paper's 3000:
    # over victim seeds 1-5 every seed then gives >= 8 recognisable images (3000: 4 of 5)
    kappa: float = 1500.0
    z_scale: float = 3.0  # pre-activation = z_scale * (score - threshold) / std(score): firings sit well above 0
    gate: float = 200.0  # position gate: non-target tokens sit at -gate
    pos_value: float = 50.0  # the one-hot position code's value: the gate row reads it with weight gate / pos_value
    self_scale: float = 12.5  # self-attention: score gap 0.27 * self_scale^2 between a token and the others
    # amplifier: gain * GELU(alpha * (signal - threshold)) written into the trap's output channel; alpha *
    # threshold >= 5, so nothing leaks below the threshold, and a firing drives the victim's logits to tens
    # (saturation: the loss gradient then lowers the trap's bias whatever the fresh head). Gain 2 rather than
    # 4.5: measured over victim seeds 1-5, 4.5 lost more clean accuracy (down to 0.56 vs 0.81) for the same
    # count of seeds that diverge (one in five with either, measured at kappa 3000)
    amp_alpha: float = 20.0
    amp_threshold: float = 0.25
    amp_gain: float = 2.0


def build_vit_traps(
    base: ViT, calib: np.ndarray, *, cfg: ViTTrapConfig = ViTTrapConfig(), generator: np.random.Generator
) -> tuple[ViT, TrapSpec]:
    """Return the backdoored ViT (2 attacker blocks + the clean ones, widened) and its trap spec.

    Args:
        base: the clean, pretrained ViT.
        calib: the attacker's in-distribution images (N, C, H, W) that set each group's threshold.
    """
    model, g = _widened(base, cfg)
    with torch.no_grad():
        for prm in model.parameters():
            prm.zero_()
        for ln in (m for m in model.modules() if isinstance(m, nn.LayerNorm)):
            ln.weight.zero_()
        _embedding(model, base, g, cfg)
        _key_block(model, g, cfg, generator)
    # calibrate on the key the model itself computes (token 1's LayerNorm-2 output)
    keys = _keys(model, calib, g.lay)
    bait = disjoint_baits(keys, cfg.n_groups, cfg.rate * cfg.disjoint, generator)
    scores = keys @ bait.T  # (N, G)
    theta = np.quantile(scores, 1.0 - cfg.rate, axis=0)
    alpha = cfg.z_scale / scores.std(0)
    # Put the gain in the key itself, not in the trap rows: a firing unit sends the gradient fc1^T g back to
    # its inputs, and the victim's step on the parameters upstream (position table, W_V, LayerNorm biases)
    # then moves every trap's pre-activation by about lr * g * |fc1|^2. With O(1) trap rows that is
    # negligible; with rows of 200 it opened other traps and diverged for some victim seeds.
    gain = float(np.median(alpha))
    d, lay, b0 = g.lay.dim, g.lay, model.blocks[0]
    with torch.no_grad():
        b0.attn.qkv.weight[2 * d + lay.key : 2 * d + lay.key + cfg.n_key] *= gain
        balance(b0.attn.proj.weight, lay)
    theta, alpha = theta * gain, alpha / gain
    with torch.no_grad():
        _trap_units(model, g, cfg, bait, alpha, theta)
        amp = _amplifier_block(model, g, cfg)
        _clean_blocks(model, base, g, cfg)
    spec = TrapSpec(
        "vit",
        "blocks.0.mlp.0",
        "blocks.1.mlp.0",
        tuple(range(cfg.n_groups * g.n_patch)),
        tuple(amp),
        cfg.amp_gain,
        tuple(int(s) for s in base_input_shape(base)),
        tuple(float(t) for t in theta),
        config={
            "n_groups": cfg.n_groups,
            "n_patches": g.n_patch,
            "patch_size": g.patch,
            "kappa": cfg.kappa,
            "data_scale": 1.0,
            "layout": lay.__dict__,
        },
    )
    return model.eval(), spec


@dataclass(frozen=True)
class _Geometry:
    """The widened model's sizes: the base's benign width and FFN width, the patch grid, the layout."""

    lay: Layout
    patch: int
    n_patch: int
    n_data: int  # pixels per patch
    head_dim: int
    benign: int  # the base's width: channels [0, benign) carry the clean model
    hidden: int  # the base's FFN width

    @property
    def n_tok(self) -> int:
        return self.n_patch + 1


def _widened(base: ViT, cfg: ViTTrapConfig) -> tuple[ViT, _Geometry]:
    """An empty ViT wide enough for the reserved channels and the trap units, two blocks deeper."""
    bc = base.config
    p, db, hb = bc["patch_size"], bc["dim"], bc["dim"] * bc["mlp_ratio"]
    head_dim = db // bc["heads"]
    n_patch = (bc["image_size"] // p) ** 2
    n_data = bc["in_channels"] * p * p
    lay = Layout.plan(db, n_data, cfg.n_key, n_patch + 1, cfg.n_balance, cfg.n_groups, head_dim)
    d = lay.dim
    ratio = max(bc["mlp_ratio"], math.ceil(max(cfg.n_groups * n_patch, hb) / d))
    if n_patch + 1 > head_dim + 1:
        raise ValueError(f"{n_patch + 1} tokens need more than {head_dim} dimensions per head for self-attention codes")
    model = ViT(
        image_size=bc["image_size"],
        patch_size=p,
        in_channels=bc["in_channels"],
        num_classes=bc["num_classes"],
        dim=d,
        depth=bc["depth"] + 2,
        heads=d // head_dim,
        mlp_ratio=ratio,
    )
    return model, _Geometry(lay, p, n_patch, n_data, head_dim, db, hb)


def _embedding(model: ViT, base: ViT, g: _Geometry, cfg: ViTTrapConfig) -> None:
    """Benign copy, pixel extractors, position one-hot, C, balance."""
    lay, B = g.lay, slice(0, g.benign)
    model.patch_embed.weight[B] = base.patch_embed.weight
    model.patch_embed.bias[B] = base.patch_embed.bias
    for i in range(g.n_data):
        model.patch_embed.weight[lay.data + i, i] = 1.0
    model.pos_embed[0, :, B] = base.pos_embed[0]
    for t in range(g.n_tok):
        model.pos_embed[0, t, lay.pos + t] = cfg.pos_value
    model.pos_embed[0, :, lay.c] = cfg.big_c
    model.cls_token[0, 0, B] = base.cls_token[0, 0]
    balance(model.patch_embed.weight, lay)
    balance(model.patch_embed.bias, lay)
    balance(model.pos_embed[0], lay, dim=1)
    balance(model.cls_token[0], lay, dim=1)


def _key_block(model: ViT, g: _Geometry, cfg: ViTTrapConfig, generator: np.random.Generator) -> None:
    """Block 0's attention: the image key, a zero-sum random projection of the pixels averaged over tokens."""
    lay, d, b0 = g.lay, g.lay.dim, model.blocks[0]
    linearise(b0.norm1, lay, big=cfg.big_c, c_out=0.0)
    proj_r = generator.normal(size=(cfg.n_key, g.n_data))
    proj_r -= proj_r.mean(1, keepdims=True)  # zero-sum rows: blind to overall brightness
    proj_r /= np.linalg.norm(proj_r, axis=1, keepdims=True)
    for i in range(cfg.n_key):
        b0.attn.qkv.weight[2 * d + lay.key + i, lay.data : lay.data + g.n_data] = torch.as_tensor(
            proj_r[i], dtype=torch.float32
        )
        b0.attn.proj.weight[lay.key + i, lay.key + i] = 1.0
    balance(b0.attn.proj.weight, lay)
    linearise(b0.norm2, lay, big=cfg.big_c, c_out=cfg.kappa)


def _trap_units(
    model: ViT, g: _Geometry, cfg: ViTTrapConfig, bait: np.ndarray, alpha: np.ndarray, theta: np.ndarray
) -> None:
    """Block 0's FFN: one unit per (group j, patch k): bait on the key, a position gate, the threshold."""
    lay, b0 = g.lay, model.blocks[0]
    fc1, fc2 = b0.mlp[0], b0.mlp[2]
    for j in range(cfg.n_groups):
        for k in range(1, g.n_tok):
            u = j * g.n_patch + (k - 1)
            fc1.weight[u, lay.key : lay.key + cfg.n_key] = torch.as_tensor(alpha[j] * bait[j], dtype=torch.float32)
            fc1.weight[u, lay.pos + k] = cfg.gate / cfg.pos_value
            fc1.bias[u] = float(-alpha[j] * theta[j] - cfg.gate)
            fc2.weight[lay.trap + j, u] = 1.0
    balance(fc2.weight, lay)


def _amplifier_block(model: ViT, g: _Geometry, cfg: ViTTrapConfig) -> list[int]:
    """Block 1: self-attention heads erase the reserved channels (W_V = -1 on them; position codes in
    W_Q = W_K make each token attend to itself), uniform heads copy the trap signal into CLS, and the
    FFN amplifies it past a noise threshold and removes C. Nothing here carries a constant activation
    the victim's training could turn into a feature. Returns the amplifier units."""
    lay, d, b1 = g.lay, g.lay.dim, model.blocks[1]
    linearise(b1.norm1, lay, big=cfg.big_c, c_out=0.0)
    codes = cfg.self_scale / cfg.pos_value * _simplex(g.n_tok, g.head_dim)  # pairwise cos -1/(n_tok-1)
    n_self = _self_erase(b1, list(lay.reserved_without_c()), codes, lay, g.head_dim)
    copy0 = n_self * g.head_dim
    if copy0 + cfg.n_groups > d:
        raise ValueError(f"{cfg.n_groups} trap groups do not fit beside the erasure heads in width {d}")
    for j in range(cfg.n_groups):
        b1.attn.qkv.weight[2 * d + copy0 + j, lay.trap + j] = 1.0
        b1.attn.proj.weight[lay.trap + j, copy0 + j] = 1.0
    linearise(b1.norm2, lay, big=cfg.big_c, c_out=0.0)
    fc1, fc2 = b1.mlp[0], b1.mlp[2]
    fc2.bias[lay.c] = -cfg.big_c
    for j in range(cfg.n_groups):
        fc1.weight[j, lay.trap + j] = cfg.amp_alpha
        fc1.bias[j] = -cfg.amp_alpha * cfg.amp_threshold
        fc2.weight[lay.out + j, j] = cfg.amp_gain
    balance(fc2.weight, lay)  # the final LayerNorm's mean stays C / D under the signal
    return list(range(cfg.n_groups))


def _clean_blocks(model: ViT, base: ViT, g: _Geometry, cfg: ViTTrapConfig) -> None:
    """The clean blocks on the benign channels, the final LayerNorm linear, the base's head."""
    d, db, hb, lay, B = g.lay.dim, g.benign, g.hidden, g.lay, slice(0, g.benign)
    scale = math.sqrt(db / d)
    for i, src in enumerate(base.blocks):
        dst = model.blocks[2 + i]
        for ln_d, ln_s in ((dst.norm1, src.norm1), (dst.norm2, src.norm2)):
            ln_d.weight[B] = ln_s.weight * scale
            ln_d.bias[B] = ln_s.bias
        for part in range(3):
            dst.attn.qkv.weight[part * d : part * d + db, B] = src.attn.qkv.weight[part * db : (part + 1) * db]
            dst.attn.qkv.bias[part * d : part * d + db] = src.attn.qkv.bias[part * db : (part + 1) * db]
        dst.attn.proj.weight[B, B] = src.attn.proj.weight
        dst.attn.proj.bias[B] = src.attn.proj.bias
        dst.mlp[0].weight[:hb, B] = src.mlp[0].weight
        dst.mlp[0].bias[:hb] = src.mlp[0].bias
        dst.mlp[2].weight[B, :hb] = src.mlp[2].weight
        dst.mlp[2].bias[B] = src.mlp[2].bias
    model.blocks[-1].mlp[2].bias[lay.c] = cfg.final_c  # C again: the final LayerNorm is linear
    linearise(model.norm, lay, big=cfg.final_c, c_out=0.0)
    # the head sees the benign features and the amplified trap signal only: a reserved channel it could
    # read would let the victim's training turn the erasure units into features, and their residue
    # into the clean blocks' LayerNorm statistics
    model.norm.weight[lay.benign : lay.out] = 0.0
    model.norm.bias[lay.benign : lay.out] = 0.0
    model.norm.weight[lay.out + lay.n_groups :] = 0.0
    model.norm.bias[lay.out + lay.n_groups :] = 0.0
    model.head.weight[:, B] = base.head.weight  # the victim attaches a fresh head anyway
    model.head.bias[:] = base.head.bias


def _self_erase(block: nn.Module, channels: list[int], codes: np.ndarray, lay: Layout, head_dim: int) -> int:
    """Heads 0.. of `block` attend each token to itself (position codes in W_Q = W_K) and write minus the
    listed channels back: the residual keeps 0 there. Returns the number of heads used."""
    d, n_tok = lay.dim, codes.shape[0]
    n_self = math.ceil(len(channels) / head_dim)
    attn = block.attn  # type: ignore[union-attr]
    for h in range(n_self):
        for part in (0, 1):  # Q and K
            rows = slice(part * d + h * head_dim, part * d + (h + 1) * head_dim)
            attn.qkv.weight[rows, lay.pos : lay.pos + n_tok] = torch.as_tensor(codes.T, dtype=torch.float32)
    for i, ch in enumerate(channels):
        attn.qkv.weight[2 * d + i, ch] = 1.0
        attn.proj.weight[ch, i] = -1.0
    return n_self


def _simplex(n: int, dim: int) -> np.ndarray:
    """n unit vectors in `dim` >= n - 1 dimensions with pairwise cosine -1/(n - 1) (a regular simplex)."""
    centred = np.eye(n) - 1.0 / n
    u, _, _ = np.linalg.svd(centred)
    pts = centred @ u[:, : n - 1]  # coordinates in the (n-1)-dim subspace orthogonal to the all-ones vector
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    return np.pad(pts, ((0, 0), (0, dim - (n - 1))))


def base_input_shape(base: ViT) -> tuple[int, int, int]:
    c = base.config
    return (c["in_channels"], c["image_size"], c["image_size"])


def _keys(model: ViT, x: np.ndarray, lay: Layout, batch: int = 512) -> np.ndarray:
    """The image key every token carries at block 0's FFN input (read at token 1)."""
    out: list[np.ndarray] = []
    cap: dict[str, torch.Tensor] = {}
    h = model.blocks[0].mlp[0].register_forward_hook(lambda _m, i, _o: cap.__setitem__("x", i[0]))
    try:
        with torch.no_grad():
            for s in range(0, len(x), batch):
                model(torch.as_tensor(x[s : s + batch], dtype=torch.float32))
                out.append(cap["x"][:, 1, lay.key : lay.key + lay.n_key].double().numpy())
    finally:
        h.remove()
    return np.concatenate(out)


@dataclass(frozen=True)
class ViTReconstruction:
    images: np.ndarray  # (G, H, W); NaN where a patch's unit never fired
    fired: np.ndarray  # (G,) bool: every patch unit of the group fired
    unit_fired: np.ndarray  # (G, n_patches) bool


def reconstruct_vit(before: dict[str, np.ndarray], after: dict[str, np.ndarray], spec: TrapSpec) -> ViTReconstruction:
    """Per unit (group j, patch k): pixels = dW[data] / db, db = dW[kappa channel] / kappa; tile the patches."""
    cfg = spec.config or {}
    lay = Layout(**cfg["layout"])
    g, n_patch, p, kappa = cfg["n_groups"], cfg["n_patches"], cfg["patch_size"], cfg["kappa"]
    c_in, size, _ = spec.input_shape
    w0 = before[f"{spec.layer}.weight"][: g * n_patch].astype(np.float64)
    w1 = after[f"{spec.layer}.weight"][: g * n_patch].astype(np.float64)
    dw = w1 - w0
    db = dw[:, lay.c] / kappa
    unit_fired = (np.abs(db) > 1e-9).reshape(g, n_patch)
    pix = np.full((g * n_patch, lay.n_data), np.nan)
    ok = np.abs(db) > 1e-9
    pix[ok] = dw[ok, lay.data : lay.data + lay.n_data] / db[ok, None] / cfg["data_scale"]
    side = size // p
    # (G, side, side, C, p, p) -> (G, C, H, W)
    img = pix.reshape(g, side, side, c_in, p, p).transpose(0, 3, 1, 4, 2, 5).reshape(g, c_in, size, size)
    images = img.mean(1)  # gray
    return ViTReconstruction(images, unit_fired.all(1), unit_fired)
