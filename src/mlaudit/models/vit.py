"""A tiny Vision Transformer (Dosovitskiy et al. 2020, arXiv 2010.11929): pre-norm blocks, CLS token.

Written out (no nn.TransformerEncoder) so that every weight is a plain, named parameter that
weight-level audits can read and edit.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, C/H)
        y = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(
        self,
        *,
        image_size: int = 28,
        patch_size: int = 7,
        in_channels: int = 1,
        num_classes: int = 10,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: int = 2,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
        n_patches = (image_size // patch_size) ** 2
        self.patch_size = patch_size
        self.patch_embed = nn.Linear(in_channels * patch_size**2, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.config: dict[str, Any] = {
            "image_size": image_size,
            "patch_size": patch_size,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "dim": dim,
            "depth": depth,
            "heads": heads,
            "mlp_ratio": mlp_ratio,
        }

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        b, c, h, w = x.shape  # (B, C, H, W)
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C*p*p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(self.patchify(x))  # (B, N, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        h = self.blocks(torch.cat([cls, tokens], dim=1) + self.pos_embed)
        return self.head(self.norm(h[:, 0]))  # (B, num_classes)

    @classmethod
    def for_input(cls, shape: tuple[int, ...], num_classes: int, **kw: object) -> ViT:
        size = shape[-1]
        patch = kw.pop("patch_size", 7 if size % 7 == 0 else 4)
        return cls(image_size=size, in_channels=shape[0], num_classes=num_classes, patch_size=patch, **kw)  # type: ignore[arg-type]
