"""Pin a download: a sha256 per file (`mlaudit manifest create DIR`), checked later (`verify`)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlaudit.errors import InputError

MANIFEST_NAME = "mlaudit-manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path, manifest: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for n in sorted(filenames):
            p = Path(dirpath) / n
            if p.resolve() != manifest.resolve():
                out.append(p)
    return out


def create(root: str | Path, manifest: str | Path | None = None, *, update: bool = False) -> Path:
    """Write {relative path: sha256} for every file under `root` (symlinks recorded as links). An
    existing manifest the folder no longer matches is a pin that failed: it is replaced only with
    `update` (say so on purpose), never silently."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {str(root)!r}; give the model folder to pin")
    out = Path(manifest) if manifest else root / MANIFEST_NAME
    if not out.parent.is_dir():
        raise InputError(f"manifest folder {str(out.parent)!r} does not exist; create it or choose another --manifest")
    if out.is_dir():
        raise InputError(f"--manifest {str(out)!r} is a folder; give a file path")
    if out.exists() and not update:
        v = verify(root, out)
        if not v.ok:
            first = (v.changed or v.missing or v.extra)[0]
            raise InputError(
                f"{str(out)!r} already pins this folder and {len(v.changed)} changed, {len(v.missing)} missing, "
                f"{len(v.extra)} new files differ from it (e.g. {first!r}); check why, then re-pin with --update"
            )
    files: dict[str, Any] = {}
    for p in _files(root, out):
        rel = p.relative_to(root).as_posix()
        files[rel] = (
            {"symlink": os.readlink(p)} if p.is_symlink() else {"sha256": sha256_file(p), "size": p.stat().st_size}
        )
    try:
        out.write_text(json.dumps({"version": 1, "algorithm": "sha256", "files": files}, indent=1, sort_keys=True))
    except OSError as e:
        raise InputError(f"cannot write manifest {str(out)!r}: {e.strerror}; choose another --manifest") from None
    return out


@dataclass
class Verification:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def verify(root: str | Path, manifest: str | Path | None = None) -> Verification:
    root = Path(root)
    path = Path(manifest) if manifest else root / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"manifest not found: {str(path)!r}; create one with 'mlaudit manifest create {root}'")
    try:
        pinned = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not isinstance(pinned, dict) or not all(isinstance(w, dict) for w in pinned.values()):
            raise TypeError("files is not a mapping of paths to hashes")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise InputError(
            f"{str(path)!r} is not an mlaudit manifest; recreate it with 'mlaudit manifest create'"
        ) from None
    v = Verification()
    present = {p.relative_to(root).as_posix(): p for p in _files(root, path)}
    for rel, want in sorted(pinned.items()):
        p = present.get(rel)
        if p is None:
            v.missing.append(rel)
        elif ("symlink" in want) != p.is_symlink() or (
            os.readlink(p) != want["symlink"] if p.is_symlink() else sha256_file(p) != want.get("sha256")
        ):
            v.changed.append(rel)
    v.extra = sorted(set(present) - set(pinned))
    return v
