"""Load model weights without running code: safetensors, or torch.load(weights_only=True).

A pickle-based file is refused before any byte of it is unpickled, unless the caller opts in to the
weights-only unpickler for torch's zip format. Unknown files are refused.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from mlaudit.data.formats import existing
from mlaudit.errors import InputError, UnsafeFileError

_PICKLE_FIRST_BYTES = {0x80}  # PROTO opcode: every pickle of protocol 2 or later starts with it
MAX_HEADER = 100 * 1024 * 1024


def sniff(path: Path) -> str:
    """Format by content, never by extension: safetensors | torch-zip | pickle | gguf | unknown."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip" if _is_torch_zip(path) else "zip"
    if head[:4] == b"GGUF":
        return "gguf"
    if len(head) >= 9 and head[0] in _PICKLE_FIRST_BYTES:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def _is_torch_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist())
    except zipfile.BadZipFile:
        return False


def check_safetensors(path: Path) -> None:
    """Validate the safetensors header: size, JSON, offsets in range, contiguous, no trailing bytes."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise InputError(f"{str(path)!r} is not a valid safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", raw)
        if n > min(MAX_HEADER, size - 8):
            raise InputError(f"{str(path)!r} is a corrupt safetensors file: header length {n} exceeds the file")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{str(path)!r} is a corrupt safetensors file: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise InputError(f"{str(path)!r} is a corrupt safetensors file: header is not a JSON object")
    spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict))
    end = 0
    for a, b in spans:
        if a != end or b < a:
            raise InputError(
                f"{str(path)!r} is a corrupt safetensors file: tensor data overlaps or has gaps at byte {a}"
            )
        end = b
    if 8 + n + end != size:
        raise InputError(
            f"{str(path)!r} is a corrupt safetensors file: tensors end at byte {8 + n + end} but the file has {size}"
        )


def _scan_first(p: Path) -> None:
    """Refuse a pickle-based file whose static scan finds anything at medium or above."""
    from mlaudit.findings import Severity
    from mlaudit.supplychain.scan import scan_file

    r = scan_file(p)
    bad = [i for i in r.issues if i.severity >= Severity.MEDIUM]
    if r.error or bad:
        why = r.error or f"{bad[0].rule}: {bad[0].message}"
        raise UnsafeFileError(f"{str(p)!r} failed the model-file scan ({why}); run 'mlaudit scan {p}' for details")


def _legacy_torch_scanned_clean(p: Path) -> bool:
    """Whether `p` is a legacy (non-zip) torch.save file: its first pickle is torch's magic number."""
    from mlaudit.supplychain.scan.issues import ScanError
    from mlaudit.supplychain.scan.pickle import LEGACY_TORCH_MAGIC, Reader, analyse

    try:
        with open(p, "rb") as f:
            first = analyse(Reader(f), max_pickles=1)
    except (ScanError, OSError, EOFError):
        return False
    return first[0].result == LEGACY_TORCH_MAGIC


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a model file or Hugging Face folder (all its .safetensors) as float numpy arrays."""
    p = existing(path, "model")
    files = sorted(p.glob("*.safetensors")) if p.is_dir() else [p]
    if not files:
        raise InputError(f"{str(p)!r} has no .safetensors files; give a model file or a folder with safetensors")
    out: dict[str, np.ndarray] = {}
    for f in files:
        for k, v in load_state_dict(f).items():
            if isinstance(v, torch.Tensor):
                out[k] = v.detach().float().numpy() if v.is_floating_point() else v.numpy()
    return out


def load_state_dict(path: str | Path, *, allow_torch_zip: bool = True) -> dict[str, torch.Tensor]:
    """Load a state dict from a safetensors file, or a torch zip file with the weights-only unpickler."""
    p = existing(path, "model file")
    if p.is_dir():
        raise InputError(f"{str(p)!r} is a folder; give the model file inside it (model.safetensors)")
    kind = sniff(p)
    if kind == "safetensors":
        from safetensors.torch import load_file

        check_safetensors(p)
        try:
            return load_file(str(p))
        except Exception as e:  # safetensors raises its own SafetensorError
            raise InputError(f"{str(p)!r} is a corrupt safetensors file: {e}") from None
    if kind == "pickle" and allow_torch_zip and _legacy_torch_scanned_clean(p):
        kind = "torch-zip"  # a legacy torch.save file the scanner passed: the weights-only unpickler may read it
    if kind == "torch-zip" and allow_torch_zip:
        _scan_first(p)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # the weights-only unpickler refuses any global outside its allow-list
            raise UnsafeFileError(
                f"{str(p)!r} is a torch file that the weights-only loader refused ({str(e).splitlines()[0]}); "
                "scan it with 'mlaudit scan' and convert it to safetensors"
            ) from None
        if not isinstance(state, dict):
            raise InputError(f"{str(p)!r} holds a {type(state).__name__}, not a state dict; save model.state_dict()")
        return state
    if kind in ("pickle", "torch-zip"):
        raise UnsafeFileError(
            f"{str(p)!r} is a pickle-based file, and loading it could run arbitrary code; "
            "mlaudit does not unpickle model files: convert it to safetensors in a sandbox you trust"
        )
    raise UnsafeFileError(f"{str(p)!r} is not a format mlaudit loads (detected: {kind}); use a .safetensors state dict")
