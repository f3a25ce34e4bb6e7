"""numpy .npy files: the header is a Python literal (read with ast.literal_eval, never eval); an object
array's data is a pickle, which is analysed; numeric data is never read."""

from __future__ import annotations

import ast
from typing import BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError
from mlaudit.supplychain.scan.pickle import Reader, analyse, to_issues

MAGIC = b"\x93NUMPY"


def holds_objects(descr: object) -> bool:
    """Whether a .npy dtype description has an object field: a type string whose kind is 'O' ('|O',
    '<O8'), or, in a structured dtype's list of (name, type[, shape]) fields, any field's type (field
    names are not types: a field called "Out" holds no object). Anything unreadable counts as objects."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=")[:1] == "O"
    if isinstance(descr, list) and descr:
        fields = [f for f in descr if isinstance(f, tuple) and len(f) in (2, 3)]
        return len(fields) != len(descr) or any(holds_objects(f[1]) for f in fields)
    return True


def scan_npy(f: BinaryIO, location: str, res: FileResult) -> None:
    r = Reader(f)
    head = r.read(8)
    if head[:6] != MAGIC:
        raise ScanError("not a .npy file")
    major = head[6]
    n = int.from_bytes(r.read(2 if major == 1 else 4), "little")
    if n > 1 << 20:
        raise ScanError(f".npy header of {n} bytes is implausible")
    try:
        header = ast.literal_eval(r.read(n).decode("latin-1"))
    except (ValueError, SyntaxError):
        raise ScanError(".npy header is not a Python literal") from None
    descr = header.get("descr") if isinstance(header, dict) else None
    if not holds_objects(descr):
        return  # numeric data: nothing to execute, nothing read
    res.issues.append(
        Issue(
            Severity.LOW,
            "numpy/object-array",
            "object array: numpy.load needs allow_pickle=True, which unpickles the data",
            location,
            r.pos,
        )
    )
    issues, safe = to_issues(analyse(r), location)
    res.issues.extend(issues)
    res.safe_imports |= safe
