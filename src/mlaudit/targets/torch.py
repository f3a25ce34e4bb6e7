"""Target adapter for a torch nn.Module, and safe loading of its weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.errors import InputError
from mlaudit.targets.base import Target, UnsupportedAccess
from mlaudit.targets.safe_load import load_state_dict


class TorchTarget(Target):
    """Wraps a classifier module mapping (B, ...) float inputs to (B, num_classes) logits."""

    def __init__(
        self, module: nn.Module, *, num_classes: int, name: str = "torch-module", batch_size: int = 512
    ) -> None:
        super().__init__()
        self.module = module.eval()
        self.num_classes = num_classes
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def from_file(
        cls, module: nn.Module, path: str | Path, *, num_classes: int, name: str | None = None
    ) -> TorchTarget:
        """Load weights into `module` from a safetensors file (or a weights-only torch file)."""
        state = load_state_dict(path)
        problem = state_mismatch(module.state_dict(), state)
        if problem:
            raise InputError(
                f"weights in {str(path)!r} do not fit the {type(module).__name__} architecture ({problem}); "
                "check target.architecture and target.architecture_args"
            )
        module.load_state_dict(state, strict=True)
        return cls(module, num_classes=num_classes, name=name or Path(path).name)

    @torch.no_grad()
    def _logits(self, x: Any) -> np.ndarray:
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        out = [self.module(xt[i : i + self.batch_size]) for i in range(0, len(xt), self.batch_size)]
        return torch.cat(out).numpy().astype(np.float64)

    def _input_gradients(self, x: Any, y: np.ndarray) -> np.ndarray:
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32).clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(self.module(xt), torch.as_tensor(y, dtype=torch.long), reduction="sum")
        (g,) = torch.autograd.grad(loss, xt)
        return g.numpy()

    def _gradient_norms(self, x: Any, y: np.ndarray) -> np.ndarray:
        """Per-example parameter-gradient norms with torch.func (vmap over grad), in batches."""
        from torch.func import functional_call, grad, vmap

        params = {k: v.detach() for k, v in self.module.named_parameters()}

        def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.module, p, (xi.unsqueeze(0),))
            return nn.functional.cross_entropy(out, yi.unsqueeze(0))

        per_example = vmap(grad(loss), in_dims=(None, 0, 0))
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        norms = []
        for i in range(0, len(xt), self.batch_size):
            g = per_example(params, xt[i : i + self.batch_size], yt[i : i + self.batch_size])
            sq = sum(t.reshape(t.shape[0], -1).pow(2).sum(1) for t in g.values())
            norms.append(torch.as_tensor(sq).sqrt())
        return torch.cat(norms).numpy().astype(np.float64)

    def _activations(self, x: Any) -> np.ndarray:
        from mlaudit.models.features import penultimate

        return penultimate(self.module, np.asarray(x), batch_size=self.batch_size)

    def _differentiable(self) -> nn.Module:
        return self.module

    def _feature_extractor(self) -> nn.Module:
        features = getattr(self.module, "features", None)
        if not isinstance(features, nn.Module):
            raise UnsupportedAccess(f"{type(self.module).__name__} has no `features` part (the input of its head)")
        return features

    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.module.state_dict().items()}

    def describe(self) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.module.parameters())
        return {**super().describe(), "architecture": type(self.module).__name__, "parameters": n_params}


def state_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str | None:
    """The first difference between two state dicts, in words, or None."""
    missing = sorted(set(expected) - set(found))
    if missing:
        return f"missing tensor {missing[0]!r}"
    extra = sorted(set(found) - set(expected))
    if extra:
        return f"unexpected tensor {extra[0]!r}"
    for k, v in expected.items():
        if tuple(found[k].shape) != tuple(v.shape):
            return f"{k!r} has shape {tuple(found[k].shape)} in the file but {tuple(v.shape)} in the architecture"
    return None
