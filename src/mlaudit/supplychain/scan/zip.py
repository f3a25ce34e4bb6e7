"""Zip containers (PyTorch .pt/.pth/.bin zip, TorchScript, .npz, .keras, plain zip), read by hand.

Members are located from the central directory and read from their local headers, ignoring flag bits
(encryption, data descriptors) and CRCs, as PyTorch's reader does; local headers that the central
directory does not list are found by walking the headers and scanned too. Every member is sniffed
by content whatever its name; PyTorch tensor storages (referenced by data.pkl) are never read.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError

_LOCAL = b"PK\x03\x04"


@dataclass(frozen=True)
class Member:
    name: str
    header_offset: int
    compress_type: int
    compress_size: int
    file_size: int


_STEP = 4 << 20  # most decompressed bytes one refill produces


class MemberStream:
    """A read-only stream of one member's (decompressed) bytes, read lazily from the archive."""

    def __init__(self, f: BinaryIO, data_offset: int, m: Member) -> None:
        self.f, self.pos, self.left, self.m = f, data_offset, m.compress_size, m
        self.z = zlib.decompressobj(-15) if m.compress_type == zipfile.ZIP_DEFLATED else None
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ScanError(f"member {m.name!r} uses compression method {m.compress_type}, which mlaudit cannot read")
        self.buf = b""
        self.at = 0  # read position in buf
        self.out = 0  # bytes decompressed so far

    def _raw(self, n: int) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        self.f.seek(self.pos)
        b = self.f.read(n)
        self.pos += len(b)
        self.left -= len(b)
        return b

    def read(self, n: int = -1) -> bytes:
        """Up to n decompressed bytes. Decompression is bounded per step (a megabyte of deflate can
        expand a thousandfold) and stops at the member's declared size, as the loaders read it."""
        n = (1 << 62) if n is None or n < 0 else n
        while len(self.buf) - self.at < n:
            room = self.m.file_size - self.out
            if self.z is None:  # stored: read what is asked (at least a page), not a megabyte per sniff
                need = n - (len(self.buf) - self.at)
                raw = self._raw(min(max(need, 1 << 12), 1 << 20, max(room, 0) + 1))
                if not raw:
                    break
                more = raw
            else:
                raw = self.z.unconsumed_tail or self._raw(1 << 20)
                if not raw:
                    more, self.z = self.z.flush(), None
                else:
                    more = self.z.decompress(raw, max(1, min(n - (len(self.buf) - self.at), _STEP)))
            self.out += len(more)
            if self.out > self.m.file_size:
                raise ScanError(
                    f"member {self.m.name!r} holds more than its declared {self.m.file_size} bytes "
                    "(readers disagree on its content)"
                )
            if not more and self.z is None:
                break
            # compact once per refill, not per read: small reads stay O(1)
            self.buf = self.buf[self.at :] + more
            self.at = 0
        out = self.buf[self.at : self.at + n]
        self.at += len(out)
        return out

    def readline(self, limit: int = -1) -> bytes:
        out = b""
        while not out.endswith(b"\n") and (limit < 0 or len(out) < limit):
            c = self.read(1)
            if not c:
                break
            out += c
        return out


def _data_offset(f: BinaryIO, header_offset: int) -> int:
    f.seek(header_offset)
    h = f.read(30)
    if len(h) < 30 or h[:4] != _LOCAL:
        raise ScanError(f"no local file header at byte {header_offset}")
    nlen, elen = struct.unpack("<HH", h[26:30])
    return header_offset + 30 + nlen + elen


def members(f: BinaryIO, location: str, res: FileResult) -> list[Member]:
    """Central-directory members, plus any local headers the central directory hides."""
    listed: list[Member] = []
    try:
        with zipfile.ZipFile(f) as z:
            listed = [
                Member(i.filename, i.header_offset, i.compress_type, i.compress_size, i.file_size) for i in z.infolist()
            ]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        res.issues.append(
            Issue(
                Severity.MEDIUM,
                "zip/central-directory",
                f"central directory unreadable ({e}); members taken from local headers",
                location,
            )
        )
    known = {m.header_offset for m in listed}
    hidden = [m for m in _walk_local_headers(f) if m.header_offset not in known]
    for m in hidden:
        res.issues.append(
            Issue(
                Severity.HIGH,
                "zip/hidden-member",
                f"member {m.name!r} has a local header but is not in the central directory",
                location,
                m.header_offset,
                m.name,
            )
        )
    return listed + hidden


def _walk_local_headers(f: BinaryIO) -> Iterator[Member]:
    """Follow local headers from byte 0 while their sizes chain (stops at a data descriptor)."""
    pos = 0
    while True:
        f.seek(pos)
        h = f.read(30)
        if len(h) < 30 or h[:4] != _LOCAL:
            return
        flags, method = struct.unpack("<HH", h[6:10])
        csize, usize, nlen, elen = struct.unpack("<IIHH", h[18:30])
        name = f.read(nlen).decode("utf-8", "replace")
        if flags & 0x08 or csize == 0xFFFFFFFF:
            return  # sizes live after the data (or in zip64 extras): the chain cannot be followed safely
        yield Member(name, pos, method, csize, usize)
        pos += 30 + nlen + elen + csize


def open_member(f: BinaryIO, m: Member) -> MemberStream:
    return MemberStream(f, _data_offset(f, m.header_offset), m)
