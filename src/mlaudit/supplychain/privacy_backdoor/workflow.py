"""File-level steps behind `mlaudit backdoor build|victim|reconstruct|detect`: each reads and writes a
folder (safetensors weights, traps.json, reconstructions), so the attacker's and the victim's steps
can run apart. Three models: the MLP (Fashion-MNIST or digits), the small ViT (Fashion-MNIST) and the
real all-MiniLM-L6-v2 (Rotten Tomatoes; written as a Hugging Face folder)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from mlaudit.data import Dataset, digits, fashion_mnist, fashion_mnist_available
from mlaudit.errors import InputError
from mlaudit.models.mlp import MLP
from mlaudit.supplychain.privacy_backdoor.detect import WeightFinding, detect
from mlaudit.supplychain.privacy_backdoor.experiment import Setup, pretrain, splits
from mlaudit.supplychain.privacy_backdoor.mlp import build_mlp_traps
from mlaudit.supplychain.privacy_backdoor.reconstruct import best_pairs, match_images, reconstruct_mlp
from mlaudit.supplychain.privacy_backdoor.traps import TrapSpec
from mlaudit.supplychain.privacy_backdoor.victim import FineTune, finetune
from mlaudit.targets.safe_load import load_state_dict, load_weights


def dataset(name: str) -> Dataset:
    if name == "fashion-mnist":
        return fashion_mnist("train")
    if name == "digits":
        return digits()
    raise InputError(f"unknown dataset {name!r} for the backdoor demo; use fashion-mnist or digits")


def default_dataset() -> str:
    return "fashion-mnist" if fashion_mnist_available() else "digits"


def setup_for(name: str, **kw: Any) -> Setup:
    small = {"n_public": 700, "n_private": 600, "hidden": (128, 64), "rate": 0.005} if name == "digits" else {}
    return Setup(**{**small, **kw})


MODELS = ("mlp", "vit", "minilm")


def build_to_dir(out: Path, *, dataset_name: str, n_traps: int | None, seed: int, model: str = "mlp") -> dict[str, Any]:
    """The attacker: take a clean pretrained model (pretrain it on public data for the MLP and ViT; the
    installed all-MiniLM-L6-v2), trap it, write it, its base and the trap spec."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r} for backdoor build; use one of {', '.join(MODELS)}")
    out.mkdir(parents=True, exist_ok=True)
    if model == "minilm":
        return _build_minilm(out, n_traps=n_traps, seed=seed)
    if model == "vit":
        return _build_vit(out, n_traps=n_traps, seed=seed)
    data = dataset(dataset_name)
    s = setup_for(dataset_name, n_traps=n_traps or 64, seed=seed)
    parts = splits(data, s)
    base = pretrain(parts["public"], s)
    trapped, spec = build_mlp_traps(
        base,
        parts["public"].x,
        n_traps=s.n_traps,
        rate=s.rate,
        amplifier=s.amplifier,
        generator=np.random.default_rng(s.seed),
    )
    save_file(base.state_dict(), out / "base.safetensors")
    save_file(trapped.state_dict(), out / "backdoored.safetensors")
    return _write_spec(out, spec, {"dataset": dataset_name, "setup": asdict(s)}, out / "base.safetensors")


def _write_spec(out: Path, spec: TrapSpec, extra: dict[str, Any], base: Path) -> dict[str, Any]:
    spec = TrapSpec(**{**asdict(spec), "config": {**(spec.config or {}), **extra}})
    spec.save(out / "traps.json")
    backdoored = out / ("backdoored" if spec.architecture == "minilm" else "backdoored.safetensors")
    return {"base": str(base), "backdoored": str(backdoored), "traps": str(out / "traps.json")}


def _build_vit(out: Path, *, n_traps: int | None, seed: int) -> dict[str, Any]:
    from mlaudit.supplychain.privacy_backdoor.experiment import ViTSetup, pretrain_vit
    from mlaudit.supplychain.privacy_backdoor.vit import ViTTrapConfig, build_vit_traps

    if not fashion_mnist_available():
        raise InputError("the ViT backdoor needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
    s = ViTSetup(seed=seed)
    pub = splits(fashion_mnist("train"), s)["public"]
    base = pretrain_vit(pub, s)
    cfg = ViTTrapConfig(n_groups=n_traps or ViTTrapConfig.n_groups)
    trapped, spec = build_vit_traps(base, pub.x, cfg=cfg, generator=np.random.default_rng(seed))
    save_file(base.state_dict(), out / "base.safetensors")
    save_file({k: v.contiguous() for k, v in trapped.state_dict().items()}, out / "backdoored.safetensors")
    extra = {"dataset": "fashion-mnist", "setup": asdict(s), "model_config": trapped.config}
    return _write_spec(out, spec, extra, out / "base.safetensors")


def _build_minilm(out: Path, *, n_traps: int | None, seed: int) -> dict[str, Any]:
    from mlaudit.supplychain.privacy_backdoor import minilm
    from mlaudit.supplychain.privacy_backdoor.experiment import MiniLMSetup, minilm_splits
    from mlaudit.targets.huggingface import minilm_path

    s = MiniLMSetup(seed=seed)
    cfg = minilm.MiniLMTrapConfig(n_groups=n_traps or minilm.MiniLMTrapConfig.n_groups)
    base, tok = minilm.load_encoder()
    _, ids = minilm_splits(s, tok, cfg.max_length)
    trapped, spec = minilm.build_minilm_traps(base, ids["aux"], cfg=cfg, generator=np.random.default_rng(seed))
    trapped.save_pretrained(out / "backdoored", safe_serialization=True)
    tok.save_pretrained(out / "backdoored")
    return _write_spec(out, spec, {"dataset": "rotten-tomatoes", "setup": asdict(s)}, minilm_path())


def mlp_from_state(sd: dict[str, torch.Tensor]) -> MLP:
    """Rebuild the MLP (widths from the tensor shapes) and load `sd` into it."""
    try:
        h0, d = sd["features.1.weight"].shape
        h1 = sd["features.3.weight"].shape[0]
        k = sd["head.weight"].shape[0]
    except KeyError as e:
        raise InputError(f"not an mlaudit MLP state dict (missing {e}); the backdoor demo works on its MLP") from None
    model = MLP(in_features=int(d), num_classes=int(k), hidden=(int(h0), int(h1)))
    model.load_state_dict(sd)
    return model.eval()


def _private(spec: TrapSpec) -> tuple[Dataset, Setup]:
    cfg = spec.config or {}
    if "dataset" not in cfg:
        raise InputError("traps.json records no dataset; rebuild it with 'mlaudit backdoor build'")
    setup = cfg["setup"]
    s = Setup(**{**setup, "hidden": tuple(setup["hidden"])})
    return splits(dataset(cfg["dataset"]), s)["private"], s


def _vit_private(spec: TrapSpec) -> Dataset:
    from mlaudit.supplychain.privacy_backdoor.experiment import ViTSetup

    return splits(fashion_mnist("train"), ViTSetup(**(spec.config or {})["setup"]))["private"]


def _minilm_private(spec: TrapSpec, tokenizer: Any) -> tuple[Dataset, np.ndarray]:
    from mlaudit.supplychain.privacy_backdoor.experiment import MiniLMSetup, minilm_splits

    parts, ids = minilm_splits(MiniLMSetup(**(spec.config or {})["setup"]), tokenizer, spec.input_shape[0])
    return parts["private"], ids["private"]


def default_recipe(architecture: str) -> FineTune:
    """The victim's fine-tuning for each model: plain SGD for the MLP; the paper's small body learning rate
    with a larger head rate for the transformers."""
    from mlaudit.supplychain.privacy_backdoor.experiment import MINILM_VICTIM, VIT_VICTIM

    return {"vit": VIT_VICTIM, "minilm": MINILM_VICTIM}.get(architecture, FineTune())


def victim_in_dir(folder: Path, ft: FineTune | dict[str, Any], *, seed: int) -> dict[str, Any]:
    """The victim: fine-tune the downloaded (backdoored) model on the private split it holds. `ft` is a
    recipe, or the fields to change in the model's default recipe."""
    spec = TrapSpec.load(folder / "traps.json")
    if isinstance(ft, dict):
        ft = FineTune(**{**asdict(default_recipe(spec.architecture)), **ft})
    if spec.architecture == "minilm":
        from mlaudit.models.text import MeanPoolClassifier
        from mlaudit.supplychain.privacy_backdoor import minilm

        enc, tok = minilm.load_encoder(folder / "backdoored")
        priv, ids = _minilm_private(spec, tok)
        finetune(MeanPoolClassifier(enc, priv.num_classes), ids, priv.y, ft, num_classes=priv.num_classes, seed=seed)
        enc.save_pretrained(folder / "finetuned", safe_serialization=True)
        tok.save_pretrained(folder / "finetuned")
        return {"finetuned": str(folder / "finetuned"), "epsilon": None}
    if spec.architecture == "vit":
        from mlaudit.models.vit import ViT

        try:
            model: torch.nn.Module = ViT(**(spec.config or {})["model_config"])
        except (KeyError, TypeError) as e:
            raise InputError(
                f"traps.json has no usable ViT model_config ({e}); rebuild it with 'mlaudit backdoor build --model vit'"
            ) from None
        model.load_state_dict(load_state_dict(folder / "backdoored.safetensors"))
        priv = _vit_private(spec)
    else:
        model = mlp_from_state(load_state_dict(folder / "backdoored.safetensors"))
        priv, _ = _private(spec)
    res = finetune(model, priv.x, priv.y, ft, num_classes=priv.num_classes, seed=seed)
    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, folder / "finetuned.safetensors")
    return {"finetuned": str(folder / "finetuned.safetensors"), "epsilon": res.epsilon}


def reconstruct_in_dir(folder: Path, *, after: Path | None = None) -> dict[str, Any]:
    """The attacker again: read the trapped examples from the weights; score them against the private split."""
    spec = TrapSpec.load(folder / "traps.json")
    if spec.architecture == "minilm":
        return _reconstruct_minilm(folder, spec, after)
    before = load_weights(folder / "backdoored.safetensors")
    after_w = load_weights(after or folder / "finetuned.safetensors")
    if spec.architecture == "vit":
        from mlaudit.supplychain.privacy_backdoor.experiment import vit_pairs
        from mlaudit.supplychain.privacy_backdoor.vit import reconstruct_vit

        rec_v = reconstruct_vit(before, after_w, spec)
        ssims, pairs = vit_pairs(rec_v, _vit_private(spec).x)
        report: dict[str, Any] = {
            "trap_groups": int(rec_v.fired.size),
            "fired": int(rec_v.unit_fired.any(1).sum()),
            "ssim_at_least_0.6": sum(v >= 0.6 for v in ssims),
            "ssim": list(ssims),
        }
    else:
        rec = reconstruct_mlp(before, after_w, spec)
        priv, _ = _private(spec)
        hw = tuple(priv.x.shape[-2:])
        matches = match_images(rec, priv.x, hw)  # type: ignore[arg-type]
        pairs = best_pairs(rec, matches, priv.x, hw)
        report = {
            "traps": len(spec.trap_units),
            "fired": int(rec.fired.sum()),
            "ssim_at_least_0.9": sum(m.ssim >= 0.9 for m in matches),
            "matches": [asdict(m) for m in sorted(matches, key=lambda m: -m.ssim)],
        }
    write_grid(pairs, folder / "reconstructions.png")
    (folder / "reconstructions.json").write_text(json.dumps(report, indent=1))
    short = {k: v for k, v in report.items() if k not in ("matches", "ssim")}
    return {**short, "grid": str(folder / "reconstructions.png")}


def _reconstruct_minilm(folder: Path, spec: TrapSpec, after: Path | None) -> dict[str, Any]:
    from mlaudit.supplychain.privacy_backdoor import minilm
    from mlaudit.supplychain.privacy_backdoor.experiment import minilm_pairs

    before = load_weights(folder / "backdoored")
    rec = minilm.reconstruct_minilm(before, load_weights(after or folder / "finetuned"), spec)
    tok = minilm.load_tokenizer(folder / "backdoored")
    _priv, ids = _minilm_private(spec, tok)
    matches, pairs = minilm_pairs(rec, ids, tok)
    good = {m.example for m in matches if m.exact >= 0.9}
    report = {
        "trap_groups": int(rec.fired.size),
        "fired": int(rec.fired.sum()),
        "sentences_recovered": len(good),
        "pairs": [{"recovered": r, "original": o, "tokens_exact": e, "residual": d} for r, o, e, d in pairs],
    }
    (folder / "reconstructions.json").write_text(json.dumps(report, indent=1))
    lines = [f"{100 * e:5.1f}% exact | {r}\n{'original':>12} | {o}" for r, o, e, _ in pairs]
    (folder / "reconstructions.txt").write_text("\n".join(lines) + "\n")
    short = {k: v for k, v in report.items() if k != "pairs"}
    return {**short, "sentences": str(folder / "reconstructions.txt")}


def write_grid(pairs: np.ndarray, path: Path, *, max_pairs: int = 32, per_row: int = 16) -> None:
    """Reconstructions above their nearest originals, `per_row` pairs a row, as one PNG."""
    path.write_bytes(grid_png(pairs, max_pairs=max_pairs, per_row=per_row))


def grid_png(pairs: np.ndarray, *, max_pairs: int = 32, per_row: int = 16) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, min(len(pairs), max_pairs))
    cols = min(n, per_row)
    bands = (n + cols - 1) // cols
    fig, axes = plt.subplots(2 * bands, cols, figsize=(0.75 * cols, 1.6 * bands), squeeze=False)
    for i in range(bands * cols):
        for r in range(2):
            ax = axes[2 * (i // cols) + r][i % cols]
            ax.axis("off")
            if i < min(len(pairs), n):
                ax.imshow(pairs[i, r], cmap="gray", vmin=0, vmax=1)
    fig.suptitle("each pair: reconstructed from the weights (top), nearest private example (bottom)", fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def detect_path(model: Path, base: Path | None = None) -> list[WeightFinding]:
    return detect(load_weights(model), load_weights(base) if base is not None else None)
