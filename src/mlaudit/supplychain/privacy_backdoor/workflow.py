"""File-level steps behind `mlaudit backdoor build|victim|reconstruct|detect`: each reads and writes a
folder (safetensors weights, traps.json, reconstructions), so the attacker's and the victim's steps
can run apart."""

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


def build_to_dir(out: Path, *, dataset_name: str, n_traps: int, seed: int) -> dict[str, Any]:
    """The attacker: pretrain a clean MLP on public data, trap it, write both and the trap spec."""
    data = dataset(dataset_name)
    s = setup_for(dataset_name, n_traps=n_traps, seed=seed)
    parts = splits(data, s)
    base = pretrain(parts["public"], s)
    model, spec = build_mlp_traps(
        base,
        parts["public"].x,
        n_traps=s.n_traps,
        rate=s.rate,
        amplifier=s.amplifier,
        generator=np.random.default_rng(s.seed),
    )
    out.mkdir(parents=True, exist_ok=True)
    save_file(base.state_dict(), out / "base.safetensors")
    save_file(model.state_dict(), out / "backdoored.safetensors")
    spec = TrapSpec(**{**asdict(spec), "config": {**(spec.config or {}), "dataset": dataset_name, "setup": asdict(s)}})
    spec.save(out / "traps.json")
    return {
        "base": str(out / "base.safetensors"),
        "backdoored": str(out / "backdoored.safetensors"),
        "traps": str(out / "traps.json"),
    }


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


def victim_in_dir(folder: Path, ft: FineTune, *, seed: int) -> dict[str, Any]:
    """The victim: fine-tune the downloaded (backdoored) model on the private split it holds."""
    spec = TrapSpec.load(folder / "traps.json")
    model = mlp_from_state(load_state_dict(folder / "backdoored.safetensors"))
    priv, _ = _private(spec)
    res = finetune(model, priv.x, priv.y, ft, num_classes=priv.num_classes, seed=seed)
    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, folder / "finetuned.safetensors")
    return {"finetuned": str(folder / "finetuned.safetensors"), "epsilon": res.epsilon}


def reconstruct_in_dir(folder: Path, *, after: Path | None = None) -> dict[str, Any]:
    """The attacker again: read the trapped examples from the weights; score them against the private split."""
    spec = TrapSpec.load(folder / "traps.json")
    before = load_weights(folder / "backdoored.safetensors")
    rec = reconstruct_mlp(before, load_weights(after or folder / "finetuned.safetensors"), spec)
    priv, _ = _private(spec)
    hw = tuple(priv.x.shape[-2:])
    matches = match_images(rec, priv.x, hw)  # type: ignore[arg-type]
    order = sorted(matches, key=lambda m: -m.ssim)
    pairs = best_pairs(rec, matches, priv.x, hw)
    write_grid(pairs, folder / "reconstructions.png")
    report = {
        "traps": len(spec.trap_units),
        "fired": int(rec.fired.sum()),
        "ssim_at_least_0.9": sum(m.ssim >= 0.9 for m in matches),
        "matches": [asdict(m) for m in order],
    }
    (folder / "reconstructions.json").write_text(json.dumps(report, indent=1))
    return {**{k: v for k, v in report.items() if k != "matches"}, "grid": str(folder / "reconstructions.png")}


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
