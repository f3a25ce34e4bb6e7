"""Internal representations of a torch classifier (what white-box attacks and data-filtering
defences read)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlaudit.errors import InputError


@torch.no_grad()
def penultimate(model: nn.Module, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Inputs of the model's final linear layer (`head`, or the last nn.Linear), shape (N, D)."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise InputError(f"{type(model).__name__} has no final nn.Linear to read representations before")
        head = linears[-1]
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].detach()))
    try:
        model.eval()
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        for i in range(0, len(xt), batch_size):
            model(xt[i : i + batch_size])
    finally:
        hook.remove()
    return torch.cat(seen).flatten(1).numpy().astype(np.float64)
