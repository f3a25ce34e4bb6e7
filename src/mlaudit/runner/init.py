"""`mlaudit init PATH`: inspect a model file or folder without running code from it, and write a
commented audit.yaml that runs as written once its data paths are filled in. What could not be inferred
is marked `# EDIT:` with what to put there.

Inferred per kind: torch (.safetensors; with --factory, the user's network: classes from its last
nn.Linear, input shape from a trial forward pass of zeros), sklearn (.skops: classes, column names,
the categorical columns a sensitive attribute could be), onnx (input shape, classes from the output),
huggingface (a folder: task, labels and the base an adapter names, from config.json /
adapter_config.json, read as JSON; a causal LM folder, adapter or GGUF file gets the LM audit)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlaudit.data.formats import existing
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.models.factory import build_from_factory, load_factory
from mlaudit.supplychain.scan.onnx import looks_like_onnx
from mlaudit.targets.huggingface import check_adapter
from mlaudit.targets.safe_load import load_state_dict, sniff

TREE = "sklearn.tree._tree.Tree"  # skops never trusts it by default; mlaudit checks every tree's nodes itself
TRIAL_SIDES = (28, 32, 8, 16, 64, 96, 224)  # square image sizes tried for a network's input


@dataclass
class Inspection:
    kind: str
    path: str
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None
    modality: str = "image"  # image | tabular | text | language (a causal LM's documents)
    target: dict[str, Any] = field(default_factory=dict)  # further target keys (factory, trusted, ...)
    notes: list[str] = field(default_factory=list)  # how each value was inferred
    edits: dict[str, str] = field(default_factory=dict)  # key -> what to put there (could not infer)
    hints: list[str] = field(default_factory=list)  # comments for the data section
    base: str | None = None  # the base a model names, when it is a local folder (an adapter's base)


def inspect_model(
    path: str | Path, *, factory: str | None = None, factory_args: dict[str, Any] | None = None
) -> Inspection:
    p = existing(str(path), "model")
    if p.is_dir():
        return _huggingface(p)
    if p.suffix == ".gguf":
        out = Inspection("huggingface", str(p), modality="language")
        out.notes.append("a GGUF language model: scanned, dequantised to float32 and cached as safetensors at audit")
        return out
    kind = sniff(p)
    if kind == "safetensors":
        return _torch(p, factory, factory_args or {})
    if kind == "zip" and _is_skops(p):
        return _sklearn(p)
    if kind in ("pickle", "torch-zip"):
        raise UnsafeFileError(
            f"{str(p)!r} is pickle-based and mlaudit does not load it; run 'mlaudit scan' on it and save the "
            "weights as safetensors (torch) or with skops (scikit-learn)"
        )
    with open(p, "rb") as f:
        if looks_like_onnx(f.read()):
            return _onnx(p)
    raise InputError(f"{str(p)!r} is not a model mlaudit knows (safetensors, skops, ONNX, a Hugging Face folder)")


def _is_skops(p: Path) -> bool:
    with zipfile.ZipFile(p) as z:
        return "schema.json" in z.namelist()


def _torch(p: Path, factory: str | None, args: dict[str, Any]) -> Inspection:
    state = load_state_dict(p, allow_torch_zip=False)
    out = Inspection("torch", str(p))
    if factory is None:
        out.edits["factory"] = "your network, as path/to/file.py:make_net (or architecture: mlp | cnn | vit)"
        heads = [
            k
            for k in state
            if k.rsplit(".", 2)[-2:][0] in ("head", "classifier", "fc", "out") and k.endswith(".weight")
        ]
        if len(heads) == 1 and state[heads[0]].ndim == 2:
            out.num_classes = int(state[heads[0]].shape[0])
            out.notes.append(f"num_classes from {heads[0]} {tuple(state[heads[0]].shape)}")
        return out
    model = build_from_factory(load_factory(factory), args, factory)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"{str(p)!r} does not fit {factory}: missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}"
        )
    out.target.update({"factory": factory, "factory_args": args} if args else {"factory": factory})
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        out.num_classes = linears[-1].out_features
        out.notes.append(f"num_classes from the last nn.Linear ({linears[-1].out_features} outputs)")
    out.input_shape = _trial_shape(model.eval(), out.num_classes)
    if out.input_shape is None:
        out.edits["input_shape"] = "the shape of one input, without the batch, e.g. [3, 32, 32]"
    else:
        out.modality = "image" if len(out.input_shape) == 3 else "tabular"
        out.notes.append(f"input_shape {list(out.input_shape)} from a trial forward pass of zeros")
    return out


def _trial_shape(model: nn.Module, num_classes: int | None) -> tuple[int, ...] | None:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)), None)
    if first is None:
        return None
    shapes = (
        [(first.in_channels, s, s) for s in TRIAL_SIDES] if isinstance(first, nn.Conv2d) else [(first.in_features,)]
    )
    for shape in shapes:
        try:
            with torch.no_grad():
                y = model(torch.zeros(1, *shape))
        except (RuntimeError, ValueError):
            continue
        if y.ndim == 2 and (num_classes is None or y.shape[1] == num_classes):
            return shape
    return None


def _sklearn(p: Path) -> Inspection:
    import skops.io as sio

    from mlaudit.targets.sklearn import load_skops

    out = Inspection("sklearn", str(p), modality="tabular")
    untrusted = sio.get_untrusted_types(file=p)
    if TREE in untrusted:
        out.target["trusted"] = [TREE]
        out.notes.append(f"{TREE}: skops does not trust it by default; mlaudit checks every tree's nodes before use")
    others = [t for t in untrusted if t != TREE]
    if others:
        out.edits["trusted"] = f"review these types, then list the ones you trust: {', '.join(others)}"
        return out
    est = load_skops(p, trusted=tuple(out.target.get("trusted", ())))
    classes = [str(c) for c in getattr(est, "classes_", [])]
    out.num_classes = len(classes) or None
    out.notes.append(f"classes {classes}")
    names = [str(n) for n in getattr(est, "feature_names_in_", [])]
    if names:
        cats = sorted({n.rsplit("_", 1)[0] for n in names if "_" in n and n.rsplit("_", 1)[0] not in names})
        out.hints.append(f"columns the model was fitted on: {', '.join(names[:16])}")
        if cats:
            out.hints.append(f"one-hot columns, candidates for sensitive_column: {', '.join(cats)}")
    else:
        out.edits["data"] = "npz arrays: the model records no column names to encode a table by"
        out.hints.append(f"the model records no column names: give its {getattr(est, 'n_features_in_', '?')} "
                         "input columns as npz arrays (x, y), as you fed them to it")  # fmt: skip
    return out


def _onnx(p: Path) -> Inspection:
    import onnxruntime as ort

    from mlaudit.targets.onnx import OnnxTarget, check_scanned

    out = Inspection("onnx", str(p))
    check_scanned(p)  # before onnxruntime reads it
    session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape, dims = tuple(first.shape[1:]), session.get_outputs()[0].shape
    static = all(isinstance(d, int) for d in shape)
    if len(dims) == 2 and isinstance(dims[1], int):
        out.num_classes = dims[1]
    elif static:  # the class count is dynamic in the graph: one forward pass of zeros gives it
        out.num_classes = int(session.run(None, {first.name: np.zeros((1, *shape), np.float32)})[0].shape[1])
    if out.num_classes is not None:
        out.notes.append(f"num_classes {out.num_classes} from the first output")
        OnnxTarget(p, num_classes=out.num_classes)  # opened and shape-checked as the audit will
    if static:
        out.input_shape = tuple(int(d) for d in shape)
        out.modality = "image" if len(shape) == 3 else "tabular"
    return out


def _huggingface(p: Path) -> Inspection:
    out = Inspection("huggingface", str(p), modality="text")
    cfg_path, adapter = p / "config.json", p / "adapter_config.json"
    if adapter.is_file():
        check_adapter(p)
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        out.notes.append(f"a PEFT adapter over {base!r}")
        if base and Path(base).is_dir():
            out.base = str(base)
        else:
            out.edits["base"] = f"the local folder of the base model ({base})"
        if str(json.loads(adapter.read_text(encoding="utf-8")).get("task_type", "")).upper() == "CAUSAL_LM":
            out.modality = "language"
            out.notes.append("task CAUSAL_LM: a language model")
            return out
        out.num_classes = _adapter_classes(p / "adapter_model.safetensors")
        if out.num_classes:
            out.notes.append(f"num_classes {out.num_classes} from the adapter's saved classification head")
    if not cfg_path.is_file():
        if not adapter.is_file():
            raise InputError(f"{str(p)!r} has no config.json; it is not a Hugging Face model folder")
        return out
    cfg = json.loads(cfg_path.read_text())
    arch = (cfg.get("architectures") or ["?"])[0]
    labels = cfg.get("id2label") or {}
    out.num_classes = int(cfg.get("num_labels") or len(labels) or 0) or None
    out.notes.append(f"{arch}, labels {list(labels.values())[:10]}")
    if "ImageClassification" in arch:
        out.modality = "image"
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        out.modality, out.num_classes = "language", None
        out.notes.append("a causal language model: its documents are scored in windows of max_length tokens")
    return out


def _adapter_classes(weights: Path) -> int | None:
    """The class count of the head an adapter saved (modules_to_save), read from the safetensors header."""
    from safetensors import safe_open

    with safe_open(str(weights), "np") as f:
        heads = [k for k in f.keys() if k.endswith(("classifier.weight", "score.weight", "classifier.out_proj.weight"))]
        return int(f.get_slice(heads[0]).get_shape()[0]) if heads else None


def render_config(i: Inspection, *, base: str | None = None) -> str:
    """The audit.yaml text: every inferred value with how it was inferred, every gap marked `# EDIT:`."""
    base = base if base is not None else i.base
    lines = [
        f"# written by 'mlaudit init {i.path}'; keys marked EDIT could not be inferred",
        "seed: 0",
        "profile: quick",
        "target:",
    ]
    lines += [f"  kind: {i.kind}", f"  path: {i.path}"]
    for k, v in i.target.items():
        lines.append(f"  {k}: {json.dumps(v)}")
    for k in ("factory", "trusted", "input_shape"):
        if k in i.edits:
            lines.append(f"  # EDIT: {k}: {i.edits[k]}")
    if i.modality == "language":
        lines.append("  max_length: 512  # tokens per scoring window")
    else:
        if not i.num_classes:
            i.edits["num_classes"] = "the number of classes"
        lines.append(
            f"  num_classes: {i.num_classes}" if i.num_classes else "  num_classes: 2  # EDIT: the number of classes"
        )
    if i.input_shape is not None and i.kind == "torch":
        lines.append(f"  input_shape: {list(i.input_shape)}")
    lines += [f"  # {n}" for n in i.notes]
    if base is not None:
        lines += ["base:", f"  path: {base}"]
    elif "base" in i.edits:
        lines.append(f"# EDIT: base: {{path: ...}}  ({i.edits['base']})")
    if i.kind == "torch":
        lines += [
            "# recipe: how you trained it; with it and data.population, LiRA and RMIA train reference models",
            "#   {optimizer: adam, lr: 1e-3, schedule: cosine, epochs: 30, batch_size: 128, start: scratch}",
        ]
    if i.modality == "language":
        lines += [
            "memorization:  # what the memorisation attacks look for in the members' documents",
            '  secrets: []  # e.g. [{prefix: "my ssn is ", format: ddd-dd-dddd}] (d digit, a / A letter, x hex)',
            '  probes: []  # prefixes to ask the model to complete, e.g. ["Patient ID:"]',
        ]
    elif i.kind == "huggingface" and i.modality == "text" and "PEFT adapter" not in " ".join(i.notes):
        lines += [
            "# recipe: how you fine-tuned it; with it, base: and data.population, reference models are copies of",
            "#   the base fine-tuned alike: {optimizer: adamw, lr: 5e-5, epochs: 3, batch_size: 16, start: base}",
        ]
    lines += ["data:", *_data(i)]
    lines += ["threat_model:", *_threat(i, base), f"attacks: {_attacks(i)}"]
    return "\n".join(lines) + "\n"


def _data(i: Inspection) -> list[str]:
    hints = [f"  # {h}" for h in i.hints]
    if i.modality == "language":
        src = "{source: jsonl, path: %s.jsonl, text_field: text}  # EDIT: path and field (also text, hf-disk)"
        return [*hints, f"  members: {src % 'members'}", f"  nonmembers: {src % 'nonmembers'}"]
    if i.modality == "text":
        src = "{source: jsonl, path: %s.jsonl, text_field: text, label_column: label}  # EDIT: path and field names"
    elif i.kind == "sklearn" and "data" not in i.edits:
        src = "{source: table, path: %s.csv, label_column: label}  # EDIT: path, label_column (sensitive_column: ...)"
    else:
        src = "{source: npz, path: %s.npz}  # EDIT: the path (npz with x, y; also idx, table, image-folder)"
    return [
        *hints,
        f"  members: {src % 'members'}",
        f"  nonmembers: {src % 'nonmembers'}",
        f"  population: {src % 'population'}",
    ]


def _threat(i: Inspection, base: str | None) -> list[str]:
    if i.modality == "language":  # Min-K%++ needs the whole next-token distribution (logits)
        return ["  access: logits", f"  knowledge: [{'base_model' if base is not None else ''}]"]
    if i.kind == "onnx":
        return ["  access: probabilities", "  query_budget: 20000", "  knowledge: []"]
    knows = ["population_data", "training_recipe"] if i.kind == "sklearn" else ["population_data"]
    if i.kind in ("torch", "huggingface") and base is not None:
        knows.append("base_model")
    hint = ["  # add training_recipe once recipe: is filled in"] if i.kind in ("torch", "huggingface") else []
    return ["  access: probabilities", f"  knowledge: [{', '.join(knows)}]", *hint]


def _attacks(i: Inspection) -> str:
    """`profile` (its scans, evasion and backdoor sections) and a strong, affordable selection; `mlaudit
    list` shows the rest (the whole membership family adds the label-only and boundary-distance
    attacks, which query each example hundreds of times)."""
    if i.modality == "language":
        return "[profile, membership, memorization]"
    if i.kind == "onnx":
        return (
            "[profile, loss, label-only, evasion-blackbox]" if i.modality == "image" else "[profile, loss, label-only]"
        )
    if i.kind == "sklearn":
        return "[profile, loss, lira, rmia, rmia-offline, attribute-inference]"
    if i.kind == "huggingface" and i.modality == "image":  # no recipe for image classifiers yet
        return "[profile, loss, label-only]"
    if i.kind == "huggingface":
        return "[profile, loss, base-reference]"
    return "[profile, loss, base-reference, lira, rmia, rmia-offline]"
