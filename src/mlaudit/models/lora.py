"""LoRA (Hu et al. 2021, arXiv 2106.09685) as a training recipe, through peft: a model's named modules
get rank-r updates scaled by alpha / r, the head trains in full, everything else is frozen; after
training the updates merge into the weights, so a reference model is a plain model again (scored,
cached and loaded like any other)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mlaudit.data.formats import json_object
from mlaudit.errors import InputError


@dataclass(frozen=True)
class LoraSpec:
    """rank, alpha, dropout and the adapted modules (names or name suffixes; one string is a regex, as
    peft reads it); `modules_to_save`: modules that train in full (the head)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...] | str
    modules_to_save: tuple[str, ...] = ()
    layers: tuple[int, ...] | None = None  # peft's layers_to_transform: only these layer indices (None: all)

    @classmethod
    def from_adapter(cls, folder: Path) -> LoraSpec:
        """The settings a PEFT LoRA adapter was trained with, from its adapter_config.json."""
        path = folder / "adapter_config.json"
        cfg = json_object(
            path, missing=f"{str(folder)!r} has no adapter_config.json", hint="save the adapter with save_pretrained"
        )
        if cfg.get("peft_type") != "LORA":
            raise InputError(
                f"{str(path)!r} is a {cfg.get('peft_type')!r} adapter; reference models are reproduced for LoRA "
                "adapters only: remove recipe: (LOSS and the base reference run without it)"
            )
        modules = cfg.get("target_modules")
        r, alpha = cfg.get("r"), cfg.get("lora_alpha")
        if not isinstance(r, int) or not isinstance(alpha, int | float) or not modules:
            raise InputError(
                f"{str(path)!r} does not record r, lora_alpha and target_modules (got {r!r}, {alpha!r}, "
                f"{modules!r}); set recipe.lora: {{rank, alpha, target_modules}}"
            )
        saved = cfg.get("modules_to_save") or ()
        layers = cfg.get("layers_to_transform")
        if isinstance(layers, int):
            layers = [layers]
        return cls(
            rank=r,
            alpha=float(alpha),
            dropout=float(cfg.get("lora_dropout") or 0.0),
            target_modules=modules if isinstance(modules, str) else tuple(sorted(modules)),  # peft saves a set
            modules_to_save=tuple(saved),
            layers=tuple(int(i) for i in layers) if isinstance(layers, list) and layers else None,
        )

    def wrap(self, model: nn.Module, *, task: str | None = None) -> Any:
        """`model` with LoRA adapters (a peft model whose trainable parameters are the adapters and the
        modules to save); `task` "SEQ_CLS" lets peft add a sequence classifier's head itself."""
        from peft import LoraConfig, get_peft_model

        modules = self.target_modules if isinstance(self.target_modules, str) else list(self.target_modules)
        config = LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,  # type: ignore[arg-type]  # peft annotates int; the scale alpha / r is a float
            lora_dropout=self.dropout,
            target_modules=modules,
            modules_to_save=list(self.modules_to_save) or None,
            task_type=task,
            layers_to_transform=list(self.layers) if self.layers is not None else None,
        )
        try:
            return get_peft_model(model, config)
        except ValueError as e:  # peft: no module matched, or one it cannot adapt
            names = [f"{n} ({type(m).__name__})" for n, m in model.named_modules() if n][:8]
            raise InputError(
                f"recipe.lora.target_modules {modules!r} cannot be adapted ({e}); name Linear, Conv or Embedding "
                f"modules of the model, which has {', '.join(names)}"
            ) from None


def merged(model: Any) -> nn.Module:
    """A trained peft model as a plain model: LoRA updates merged into the weights, the trained copies
    of the modules to save in their place."""
    out: nn.Module = model.merge_and_unload()
    return out
