"""safetensors: validate the header (size, JSON, duplicate keys, dtype sizes, offsets, trailing bytes)
without reading tensor data (the checks of safetensors/src/tensor.rs, plus duplicate keys)."""

from __future__ import annotations

import json
import math
from typing import Any, BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue

MAX_HEADER = 100_000_000
_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in items]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise _Duplicate(dup)
    return dict(items)


class _Duplicate(Exception):
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys


def scan_safetensors(f: BinaryIO, size: int, location: str, res: FileResult) -> None:
    def bad(rule: str, msg: str, sev: Severity = Severity.HIGH) -> None:
        res.issues.append(Issue(sev, f"safetensors/{rule}", msg, location))

    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER or n > size - 8:
        return bad("header-size", f"header length {n} exceeds {'the file' if n > size - 8 else '100 MB'}")
    try:
        header = json.loads(f.read(n), object_pairs_hook=_pairs)
    except _Duplicate as d:
        return bad("duplicate-key", f"duplicate keys {d.keys[:5]}: parsers disagree on which one wins")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return bad("header-json", f"header is not valid JSON ({e})")
    if not isinstance(header, dict):
        return bad("header-json", "header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        bad("metadata", "__metadata__ must map strings to strings", Severity.MEDIUM)
    spans = []
    for name, t in header.items():
        try:
            a, b = t["data_offsets"]
            nbits = math.prod(t["shape"]) * _BITS[t["dtype"]]
        except (KeyError, TypeError, ValueError):
            return bad("tensor-entry", f"tensor {name!r} has a malformed entry {str(t)[:80]}")
        if b - a != (nbits + 7) // 8:
            return bad(
                "tensor-size", f"tensor {name!r} spans {b - a} bytes but its dtype and shape need {(nbits + 7) // 8}"
            )
        spans.append((a, b, name))
    end = 0
    for a, b, name in sorted(spans):
        if a != end:
            return bad("offsets", f"tensor {name!r} starts at {a}, expected {end}: data overlaps or has a gap")
        end = b
    if 8 + n + end != size:
        bad("trailing-bytes", f"{size - 8 - n - end} bytes after the last tensor (or missing)")
