"""Format by content, never by extension."""

from __future__ import annotations

import pickletools

_OPCODES = {op.code for op in pickletools.opcodes}


def sniff(head: bytes) -> str:
    """Name the format of a stream from its first bytes (512 are plenty)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00" or head[:3] == b"\x5d\x00\x00":
        return "lzma"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    if head[:2] in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"):
        return "zlib"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if len(head) >= 10 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 40:
        return "safetensors"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pickle"
    if head[:1] == b"\x08" and len(head) > 2:
        return "protobuf"
    if head[:1] and chr(head[0]) in _OPCODES:
        return "maybe-pickle"  # protocol 0/1 pickles start with any opcode and may be plain ASCII
    if is_text(head):
        return "text"
    return "unknown"


def is_text(head: bytes) -> bool:
    if not head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # the cut may split a multi-byte character
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b"\x00" not in head
