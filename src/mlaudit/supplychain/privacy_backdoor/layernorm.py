# mypy: disable-error-code="union-attr,operator,index,arg-type,assignment"
"""What the transformer traps (ViT, MiniLM) share: the channel layout of the widened residual stream,
LayerNorm linearisation by a large constant C (Feng & Tramer 2024; spec shared/research/
privacy-backdoors.md section 3), and bait selection with disjoint calibration top sets.

A LayerNorm whose input is C on channel c and sums to 0 over every other channel has mean C / D and
standard deviation C sqrt(D - 1) / D whatever the other values are (up to O(|x|^2 / C^2)): with gamma and
beta set to those constants it is the identity. The balance channels hold minus the sum of the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlaudit.errors import InputError


@dataclass(frozen=True)
class Layout:
    """Channel map of the widened residual stream (first index and count of each group)."""

    benign: int
    data: int
    n_data: int
    key: int
    n_key: int
    pos: int
    n_pos: int
    balance: int
    n_balance: int
    c: int
    trap: int
    out: int
    n_groups: int
    dim: int

    def reserved_without_c(self) -> np.ndarray:
        return np.r_[self.benign : self.c]  # data, key, pos, balance

    @classmethod
    def plan(
        cls, benign: int, n_data: int, n_key: int, n_pos: int, n_balance: int, n_groups: int, multiple: int
    ) -> Layout:
        """Lay the groups out after the benign channels; the width is rounded up to a multiple of `multiple`
        (the head size of a model that keeps its head size, the head count of one that keeps its heads)."""
        data = benign
        key = data + n_data
        pos = key + n_key
        balance = pos + n_pos
        c = balance + n_balance
        trap = c + 1
        out = trap + n_groups
        used = out + n_groups
        dim = multiple * math.ceil(used / multiple)
        return cls(benign, data, n_data, key, n_key, pos, n_pos, balance, n_balance, c, trap, out, n_groups, dim)


def balance(t: torch.Tensor, lay: Layout, dim: int = 0) -> None:
    """Spread minus the sum of the other non-C channels of `t` (channels along `dim`) over the balance channels."""
    idx = torch.as_tensor(np.r_[0 : lay.balance, lay.trap : lay.dim])
    share = -t.index_select(dim, idx).sum(dim) / lay.n_balance
    for i in range(lay.n_balance):
        t.select(dim, lay.balance + i).copy_(share)


def linearise(ln: nn.LayerNorm, lay: Layout, *, big: float, c_out: float) -> None:
    """LayerNorm -> identity on every channel while the input is `big` on channel c and sums to 0
    elsewhere (mean big / D, std big sqrt(D - 1) / D); channel c itself outputs the constant `c_out`."""
    d = lay.dim
    with torch.no_grad():
        ln.weight.fill_(big * math.sqrt(d - 1) / d)
        ln.bias.fill_(big / d)
        ln.weight[lay.c] = 0.0
        ln.bias[lay.c] = c_out


def disjoint_baits(keys: np.ndarray, n: int, rate: float, rng: np.random.Generator, tries: int = 20_000) -> np.ndarray:
    """Zero-sum unit baits whose calibration top sets (the expected activators) do not intersect, so
    that one image rarely opens two groups at once (the paper's no-intersection bait selection)."""
    k = max(3, int(np.ceil(rate * len(keys))))
    chosen: list[np.ndarray] = []
    taken: set[int] = set()
    for _ in range(tries):
        b = np.asarray(rng.normal(size=keys.shape[1]))
        b -= b.mean()
        b /= np.linalg.norm(b)
        top = set(np.argpartition(keys @ b, -k)[-k:].tolist())
        if top & taken:
            continue
        chosen.append(b)
        taken |= top
        if len(chosen) == n:
            return np.stack(chosen)
    raise InputError(
        f"found only {len(chosen)} of {n} baits with disjoint top sets in {len(keys)} calibration examples; "
        "use fewer trap groups, a lower rate, or more calibration data"
    )
