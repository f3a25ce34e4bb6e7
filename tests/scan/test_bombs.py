"""Issue 21, class 3: decompression bombs are reported, not expanded, and the scanner's own memory
stays bounded: 288 MiB of zeros (past the 256 MiB floor) deflated into a zip member (a torch
data.pkl, and a plain member) and gzip-compressed as a whole file, each scanned in a subprocess
whose peak resident memory must stay under 200 MB (the zip member alone took 3.1 GB before); a
member whose deflate stream holds more than its declared size is never clean."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import zipfile

import pytest

from mlaudit.supplychain.scan import scan_paths

ZEROS = b"\0" * (1 << 24)


def _peak_scan(path) -> tuple[dict, float]:
    # VmHWM, the peak resident set of this process image (ru_maxrss would carry pytest's over exec)
    code = (
        "import json, re, sys\n"
        "from mlaudit.supplychain.scan import scan_paths\n"
        "(r,) = scan_paths([sys.argv[1]])\n"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print(json.dumps({'error': r.error, 'rules': [i.rule for i in r.issues], 'peak_mb': hwm / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    doc = json.loads(out.stdout)
    return doc, doc["peak_mb"]


def _zip_bomb(path, member: str) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(member, "w", force_zip64=True) as m:
        for _ in range(18):  # 288 MiB: past BOMB_MIN (256 MiB)
            m.write(ZEROS)


def _gzip_bomb(path, _: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as g:
        for _ in range(18):
            g.write(ZEROS)


@pytest.mark.parametrize(
    "write, name, member",
    [(_zip_bomb, "a.zip", "archive/data.pkl"), (_zip_bomb, "b.zip", "weights.bin"), (_gzip_bomb, "model.pt.gz", "")],
    ids=["zip-data.pkl", "zip-member", "gzip"],
)
def test_a_bomb_is_reported_within_200_mb(tmp_path, write, name, member):
    write(tmp_path / name, member)
    doc, peak = _peak_scan(tmp_path / name)
    assert "archive/decompression-bomb" in doc["rules"], doc
    assert peak < 200, peak


def test_a_member_larger_than_it_declares_is_never_clean(tmp_path):
    path = tmp_path / "lie.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps({"x": list(range(20000))}))
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 22, 100)  # the local header's uncompressed size
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, 100)  # and the central directory's
    path.write_bytes(bytes(raw))
    (r,) = scan_paths([path])
    assert r.error is not None or r.issues, "reported clean"


def _bigint(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)  # BININT


@pytest.mark.parametrize(
    "data, flagged",
    [
        (b"\x80\x02cbuiltins\nbytearray\n" + _bigint(1 << 30) + b"\x85R.", True),  # bytearray(2**30)
        (b"\x80\x02c__builtin__\nbytes\n" + _bigint(1 << 27) + b"\x85R.", True),
        (b"\x80\x02cbuiltins\nlist\ncbuiltins\nrange\n" + _bigint(1 << 30) + b"\x85R\x85R.", True),  # list(range)
        (b"\x80\x02cbuiltins\nbytearray\n" + _bigint(4096) + b"\x85R.", False),  # a small buffer is data
        (b"\x80\x02cbuiltins\nrange\n" + _bigint(1 << 30) + b"\x85R.", False),  # a range alone is lazy
    ],
    ids=["bytearray-2^30", "bytes-2^27", "list-of-range-2^30", "bytearray-4096", "range-alone"],
)
def test_safe_constructors_with_huge_constant_arguments_are_flagged(tmp_path, data, flagged):
    """Never loaded here (bytearray(2**30) would allocate a gigabyte): the bytes are hand-assembled."""
    (tmp_path / "x.pkl").write_bytes(data)
    (r,) = scan_paths([tmp_path / "x.pkl"])
    assert r.error is None, r.error
    assert ("pickle/allocation" in {i.rule for i in r.issues}) is flagged, r.issues
