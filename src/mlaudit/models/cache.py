"""The one model cache: trained weights kept as safetensors in the audit's output folder, keyed by a
name that encodes the settings, so an interrupted or repeated audit loads what it already trained
(scenarios' targets and base models, reference models, the demonstrations' models). Only safetensors:
loading never runs code."""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger(__name__)


class ModelCache:
    """`folder` None: nothing is kept (every load misses, every save is a no-op)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def path(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{name}.safetensors"

    def has(self, name: str) -> bool:
        p = self.path(name)
        return p is not None and p.exists()

    def load(self, name: str, model: nn.Module) -> bool:
        """Load the weights kept under `name` into `model`; False when none are kept."""
        p = self.path(name)
        if p is None or not p.exists():
            return False
        model.load_state_dict(load_file(str(p)))
        log.info("loaded cached weights %s", p)
        return True

    def save(self, name: str, model: nn.Module) -> None:
        p = self.path(name)
        if p is None:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(p))

    def files(self, pattern: str) -> list[str]:
        """The kept files whose names match `pattern` (glob, without the suffix), sorted."""
        if self.folder is None or not self.folder.exists():
            return []
        return sorted(str(p) for p in self.folder.glob(f"{pattern}.safetensors"))
