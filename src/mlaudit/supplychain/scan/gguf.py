"""GGUF: header counts checked against the file size (malformed counts overflow loaders), every
key-value read with bounds, and chat templates checked for Jinja sandbox escapes."""

from __future__ import annotations

from typing import BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError
from mlaudit.supplychain.scan.pickle import Reader
from mlaudit.supplychain.scan.templates import check_template

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
MAX_TEMPLATE = 1 << 20


def _u(r: Reader, n: int) -> int:
    return int.from_bytes(r.read(n), "little")


def _string(r: Reader, size: int, keep: bool) -> str | None:
    n = _u(r, 8)
    if n > size - r.pos:
        raise ScanError(f"string of {n} bytes at byte {r.pos} runs past the end of the file")
    if keep and n <= MAX_TEMPLATE:
        return r.read(n).decode("utf-8", "replace")
    r.skip(n)
    return None


def _value(r: Reader, vtype: int, size: int, keep: bool) -> str | None:
    if vtype in _SCALAR:
        r.skip(_SCALAR[vtype])
        return None
    if vtype == _STRING:
        return _string(r, size, keep)
    if vtype == _ARRAY:
        etype, count = _u(r, 4), _u(r, 8)
        if count * _SCALAR.get(etype, 8) > size - r.pos:
            raise ScanError(f"array of {count} items at byte {r.pos} cannot fit in the file")
        if etype in _SCALAR:
            r.skip(count * _SCALAR[etype])
        else:
            for _ in range(count):
                _value(r, etype, size, False)
        return None
    raise ScanError(f"unknown GGUF value type {vtype} at byte {r.pos}")


_ALIGNMENT = 32  # general.alignment's default: the tensor data starts at the next multiple after the header
# bytes per element of the types whose size is fixed (F32, F16, BF16) or per 32-element block (Q4_0,
# Q4_1, Q5_0, Q5_1, Q8_0): a tensor's smallest size in the file; other (k-, i-) quants: only checked to exist
_BYTES = {0: 4.0, 1: 2.0, 30: 2.0, 2: 18 / 32, 3: 20 / 32, 6: 22 / 32, 7: 24 / 32, 8: 34 / 32}
_TYPES = set(range(0, 4)) | set(range(6, 42))  # ggml_type ids (4 and 5, the removed Q4_2 / Q4_3, are gone)


def _tensor_problem(dims: list[int], ggml_type: int, offset: int, data_bytes: int) -> tuple[Severity, str] | None:
    """What is wrong with one tensor's info: dimensions whose product overflows 63 bits (the element
    count loaders multiply out; GGML overflow CVEs), an unknown type, data past the end of the file."""
    n = 1
    for d in dims:
        n *= d
    if n >= 1 << 63:
        return Severity.CRITICAL, f"tensor dimensions {dims} ({n} elements) overflow a loader's 64-bit sizes"
    if ggml_type not in _TYPES:
        return Severity.HIGH, f"unknown tensor type {ggml_type}: loaders index their type tables with it"
    need = int(n * _BYTES.get(ggml_type, 0.0))
    if offset + need > data_bytes:
        return Severity.HIGH, f"tensor data at offset {offset} ({need} bytes) runs past the end of the file"
    return None


def scan_gguf(f: BinaryIO, size: int, location: str, res: FileResult) -> None:
    r = Reader(f)
    if r.read(4) != b"GGUF":
        raise ScanError("not a GGUF file")
    version = _u(r, 4)
    width = 4 if version == 1 else 8
    n_tensors, n_kv = _u(r, width), _u(r, width)
    # each key-value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 24
    if n_kv * 13 + n_tensors * 24 > size:
        res.issues.append(
            Issue(
                Severity.CRITICAL,
                "gguf/header-counts",
                f"header declares {n_kv} key-values and {n_tensors} tensors, more than a "
                f"{size}-byte file can hold (loader overflow, CVE-2024-25664 family)",
                location,
                8,
            )
        )
        return
    for _ in range(n_kv):
        key = _string(r, size, True) or ""
        vtype = _u(r, 4)
        val = _value(r, vtype, size, "chat_template" in key)
        if val is not None:
            check_template(val, f"{location}!{key}", res)
    tensors = []
    for _ in range(n_tensors):
        _string(r, size, False)
        n_dims = _u(r, 4)
        if n_dims > 4:
            raise ScanError(f"tensor with {n_dims} dimensions (GGML allows 4) at byte {r.pos}")
        at = r.pos
        dims = [_u(r, 8) for _ in range(n_dims)]
        tensors.append((at, dims, _u(r, 4), _u(r, 8)))
    data_start = -(-r.pos // _ALIGNMENT) * _ALIGNMENT
    for at, dims, ggml_type, offset in tensors:
        problem = _tensor_problem(dims, ggml_type, offset, size - data_start)
        if problem:
            res.issues.append(Issue(problem[0], "gguf/tensor-info", problem[1], location, at))
