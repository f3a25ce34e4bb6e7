"""Scan files and folders: route each by content to its format's checks; fail closed.

`scan_paths` never imports, unpickles or executes what it reads. A file that cannot be scanned gets
`error` set (exit 2 in the CLI), never a clean result. Tensor data is skipped unread, so memory stays
flat on multi-GB files; nested archives and compressed streams are spooled to temporary files.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import zip as zipmod
from mlaudit.supplychain.scan.configs import check_targets, check_weight_map
from mlaudit.supplychain.scan.gguf import scan_gguf
from mlaudit.supplychain.scan.git import check_git_config, check_hooks
from mlaudit.supplychain.scan.issues import FileResult, Issue, ScanError
from mlaudit.supplychain.scan.joblib import JoblibHook
from mlaudit.supplychain.scan.keras import check_keras_json, looks_like_keras, scan_h5
from mlaudit.supplychain.scan.numpy import scan_npy
from mlaudit.supplychain.scan.onnx import looks_like_onnx, scan_onnx
from mlaudit.supplychain.scan.pickle import LEGACY_TORCH_MAGIC, Reader, analyse, plausible, to_issues
from mlaudit.supplychain.scan.safetensors import scan_safetensors
from mlaudit.supplychain.scan.sniff import is_text, sniff
from mlaudit.supplychain.scan.templates import check_template

MAX_DEPTH = 4
SPOOL_MEMORY = 32 << 20
MAX_ONNX = 2 << 30
# a compressed stream or member that expands past BOMB_MIN bytes at more than BOMB_RATIO times its
# compressed size is a decompression bomb: reported, and not expanded (model weights compress ~1-3x)
BOMB_MIN = 256 << 20
MAX_CONFIG = 64 << 20  # JSON / YAML configs read whole up to this size
BOMB_RATIO = 100
# names a model file goes by: one of these that mlaudit cannot parse is an error (never clean); other
# unrecognised files in a folder (images, sentencepiece models, ...) are listed at LOW
MODEL_SUFFIXES = frozenset(
    ".bin .pt .pth .ckpt .pkl .pickle .joblib .dill .h5 .hdf5 .keras .onnx .safetensors .gguf .npy .npz .skops "
    ".msgpack .mar .tar .zip".split()
)


def scan_paths(paths: Iterable[str | Path]) -> list[FileResult]:
    out: list[FileResult] = []
    for p in map(Path, paths):
        if p.is_dir() and not p.is_symlink():
            out.extend(scan_folder(p))
        else:
            out.append(scan_file(p))
    return out


def scan_folder(root: Path) -> list[FileResult]:
    """Every file, and of a .git folder what can run code or hold a model: its config, its hooks and
    its LFS objects (git's own packed objects are compressed history, read by git only)."""
    results = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if ".git" in dirnames:
            results.extend(scan_git(Path(dirpath) / ".git", root))
            dirnames.remove(".git")
        for name in sorted(filenames):
            results.append(scan_file(Path(dirpath) / name, root=root))
    return results


def scan_git(git: Path, root: Path) -> list[FileResult]:
    results = []
    config = git / "config"
    if config.is_file() and not config.is_symlink():
        res = FileResult(str(config))
        res.format = "git-config"
        check_git_config(config.read_bytes()[: 1 << 20], str(config), res)
        results.append(res)
    hooks = git / "hooks"
    if hooks.is_dir() and not hooks.is_symlink():
        res = FileResult(str(hooks))
        res.format = "git-hooks"
        check_hooks(hooks, res)
        results.append(res)
    lfs = git / "lfs" / "objects"
    if lfs.is_dir() and not lfs.is_symlink():
        for dirpath, dirnames, filenames in os.walk(lfs):
            dirnames.sort()
            results.extend(scan_file(Path(dirpath) / n, root=root) for n in sorted(filenames))
    return results


def scan_file(path: Path, *, root: Path | None = None) -> FileResult:
    res = FileResult(str(path))
    try:
        if path.is_symlink():
            target = path.resolve()
            base = (root or path.parent).resolve()
            if not target.is_relative_to(base):
                res.issues.append(
                    Issue(
                        Severity.HIGH,
                        "file/symlink-escape",
                        f"symlink points outside the folder, to {str(target)!r}",
                        str(path),
                    )
                )
        if not path.exists():
            raise ScanError("no such file")
        size = path.stat().st_size
        res.bytes_scanned = size
        with open(path, "rb") as f:
            _scan_seekable(f, size, str(path), res, 0, path.name, path.parent)
            _other_views(f, size, str(path), res)
    except ScanError as e:
        res.error = str(e)
    except (OSError, EOFError, ValueError, MemoryError, RecursionError) as e:
        res.error = f"{type(e).__name__}: {e}"
    if res.format == "unknown" and (root is None or path.suffix.lower() in MODEL_SUFFIXES):
        # named on the command line, or named like a model: not scanned is an error, never a pass
        res.issues = [i for i in res.issues if i.rule != "file/unknown-format"]
        res.error = "unrecognised binary format: not scanned, mlaudit cannot vouch for it"
    return res


def _scan_seekable(
    f: BinaryIO, size: int, loc: str, res: FileResult, depth: int, name: str, folder: Path | None
) -> None:
    if depth > MAX_DEPTH:
        raise ScanError(f"archives nested deeper than {MAX_DEPTH} levels")
    head = f.read(512)
    f.seek(0)
    kind = sniff(head)
    if depth == 0:
        res.format = kind
    if kind == "zip":
        _scan_zip(f, loc, res, depth)
    elif kind == "tar":
        _scan_tar(f, loc, res, depth)
    elif kind == "7z":
        _scan_7z(f, loc, res, depth)
    elif kind in ("gzip", "bz2", "lzma", "zlib", "lz4"):
        cap = max(BOMB_MIN, BOMB_RATIO * size)
        with _decompress(f, kind) as inner, _spool(inner, cap) as (g, n):
            if n > cap:
                _bomb(n, size, f"{loc}!{kind}", res, more=True)
                return
            _scan_seekable(g, n, f"{loc}!{kind}", res, depth + 1, name, None)
    elif kind == "npy":
        scan_npy(f, loc, res)
    elif kind == "gguf":
        scan_gguf(f, size, loc, res)
    elif kind == "hdf5":
        scan_h5(f, loc, res)
    elif kind == "safetensors":
        scan_safetensors(f, size, loc, res)
    elif kind in ("pickle", "maybe-pickle", "text", "protobuf", "unknown"):
        found = _scan_other(f, size, head, kind, loc, res, name, folder)
        if depth == 0:
            res.format = found


_ZIP_VIEWS = ("zip", "pytorch-zip", "keras", "torchscript")


def _other_views(f: BinaryIO, size: int, loc: str, res: FileResult) -> None:
    """Formats a reader finds elsewhere than at byte 0: a zip by its end-of-central-directory record
    (zipfile, numpy.load's npz and torch's miniz look at the end), HDF5 after a user block (at 512,
    1024, 2048, ... bytes, as h5py looks). Each such view is scanned too, and the file is listed as a
    polyglot (low: two readers see two files, each judged by its content; a view that cannot be read
    is medium)."""
    views = []
    if res.format not in _ZIP_VIEWS:
        tail = min(size, 22 + 0xFFFF)
        f.seek(size - tail)
        at = f.read(tail).rfind(b"PK\x05\x06")
        f.seek(0)
        if at >= 0 and zipfile.is_zipfile(f):  # a record that parses, not four bytes of tensor data
            views.append(("zip", size - tail + at))
    if res.format != "hdf5":
        offset = 512
        while offset + 8 <= size and offset <= 1 << 30:
            f.seek(offset)
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                views.append(("hdf5", offset))
                break
            offset *= 2
    for kind, offset in views:
        res.issues.append(  # each view's content is judged on its own; the ambiguity itself is listed
            Issue(
                Severity.LOW,
                "format/polyglot",
                f"also a {kind} file (found at byte {offset}) besides {res.format}: readers of each format see "
                "different content; both are scanned",
                loc,
                offset,
            )
        )
        f.seek(0)
        try:
            if kind == "zip":
                _scan_zip(f, f"{loc}!as-zip", res, 1)
            else:
                scan_h5(f, f"{loc}!as-hdf5", res)
        except ScanError as e:
            res.issues.append(
                Issue(Severity.MEDIUM, "format/polyglot", f"its {kind} view cannot be read ({e})", loc, offset)
            )


def _scan_other(
    f: BinaryIO, size: int, head: bytes, kind: str, loc: str, res: FileResult, name: str, folder: Path | None
) -> str:
    """Pickles (any protocol), text (JSON configs, templates, code), ONNX; returns the format found."""
    if kind in ("pickle", "maybe-pickle", "text"):
        if _scan_pickle(f, loc, res, strict=kind == "pickle"):
            return "pickle"
        f.seek(0)
    if kind == "protobuf" and size <= MAX_ONNX:
        raw = f.read()
        if looks_like_onnx(raw):
            scan_onnx(raw, folder, loc, res)
            return "onnx"
        f.seek(0)
    if kind == "text" or is_text(head):
        _scan_text(f, size, loc, res, name)
        return "text"
    res.issues.append(
        Issue(
            Severity.LOW,
            "file/unknown-format",
            "unrecognised binary format: not scanned (mlaudit cannot vouch for it)",
            loc,
        )
    )
    return "unknown"


def _scan_pickle(f: BinaryIO, loc: str, res: FileResult, *, strict: bool) -> bool:
    """Analyse a (stacked) pickle stream; False if the bytes are not a pickle after all."""
    hook = JoblibHook()
    r = Reader(f)
    try:
        first = analyse(r, build_hook=hook, max_pickles=1)
    except ScanError:
        if strict:
            raise
        return False
    if not strict and not plausible(first[0]):
        return False  # text that merely starts with an opcode character
    rest_limit = 4 if first[0].result == LEGACY_TORCH_MAGIC else None  # legacy torch: 5 pickles, then raw storages
    more = first[0].error is None and _more(f)
    rest = analyse(r, build_hook=hook, max_pickles=rest_limit, continuation=True) if more else []
    issues, safe = to_issues(first + rest + hook.nested, loc)
    res.issues.extend(issues)
    res.safe_imports |= safe
    return True


def _more(f: BinaryIO) -> bool:
    pos = f.tell()
    more = bool(f.read(1))
    f.seek(pos)
    return more


def _scan_text(f: BinaryIO, size: int, loc: str, res: FileResult, name: str) -> None:
    import json

    if name.endswith(".py"):
        res.issues.append(
            Issue(
                Severity.MEDIUM,
                "hf/python-code",
                "Python source beside the model: loaders with trust_remote_code=True run it",
                loc,
            )
        )
    config = name.endswith((".json", ".yaml", ".yml", ".jinja"))
    if config and size > MAX_CONFIG:
        res.issues.append(
            Issue(
                Severity.MEDIUM,
                "config/unchecked",
                f"a {size}-byte config file, over the {MAX_CONFIG}-byte limit this scanner reads: not checked",
                loc,
            )
        )
        return
    if not config:
        return
    if name.endswith(".jinja"):  # a chat template saved beside the tokenizer (chat_template.jinja)
        check_template(f.read().decode("utf-8", "replace"), loc, res)
        return
    try:
        raw = f.read()
        doc = json.loads(raw) if name.endswith(".json") else _yaml(raw)
    except (UnicodeDecodeError, ValueError):
        return
    if not isinstance(doc, dict):
        return
    check_targets(doc, loc, res)
    if looks_like_keras(doc):  # a Keras 3 folder: config.json beside model.weights.h5, loaded by keras
        check_keras_json(raw, loc, res)
    weight_map = doc.get("weight_map")
    if isinstance(weight_map, dict):
        check_weight_map(weight_map, loc, res)
    if "auto_map" in doc:
        res.issues.append(
            Issue(
                Severity.HIGH,
                "hf/auto-map",
                f"auto_map {json.dumps(doc['auto_map'])[:120]}: custom model code that "
                "trust_remote_code=True would import and run",
                loc,
                trigger="auto_map",
            )
        )
    if "custom_pipelines" in doc:
        res.issues.append(
            Issue(
                Severity.HIGH,
                "hf/custom-pipelines",
                f"custom_pipelines {json.dumps(doc['custom_pipelines'])[:120]}: pipeline code that "
                "trust_remote_code=True would import and run",
                loc,
                trigger="custom_pipelines",
            )
        )
    template = doc.get("chat_template")
    if isinstance(template, dict):  # {name: template}
        template = list(template.values())
    for t in template if isinstance(template, list) else [template]:
        text = t.get("template") if isinstance(t, dict) else t
        if isinstance(text, str):
            check_template(text, f"{loc}!chat_template", res)


def _yaml(raw: bytes) -> object:
    import yaml

    try:
        return yaml.safe_load(raw)  # safe_load: plain data, no tags that construct objects
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None


def _scan_zip(f: BinaryIO, loc: str, res: FileResult, depth: int) -> None:
    ms = zipmod.members(f, loc, res)
    storages, pickles = _torch_storages(f, ms, loc, res)
    names = {m.name for m in ms}
    if any(n.endswith("constants.pkl") for n in names) and any("/code/" in n or n.startswith("code/") for n in names):
        res.format = "torchscript"
        res.issues.append(
            Issue(
                Severity.MEDIUM,
                "torch/torchscript",
                "TorchScript archive: torch.jit.load compiles and runs the code/ it carries, and "
                "weights_only loading refuses it",
                loc,
            )
        )
    if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
        res.format = "keras"
    for m in ms:
        if m.name in storages and _raw_bytes(f, m):
            continue  # raw tensor bytes: torch never unpickles them, and no other reader parses them
        if m.name in pickles or m.name.endswith("/"):
            continue  # a data.pkl already analysed
        sub = f"{loc}!{m.name}"
        if _bomb(m.file_size, m.compress_size, sub, res):
            continue
        stream: Any = zipmod.open_member(f, m)
        if m.name == "config.json" and (res.format == "keras" or m.file_size <= MAX_CONFIG):
            raw = stream.read(MAX_CONFIG)  # read once: checked as Keras, or scanned below like any member
            if res.format == "keras" or _is_keras_config(raw):
                res.format = "keras"
                check_keras_json(raw, sub, res)
                continue
            stream = io.BytesIO(raw)
        _scan_member(stream, m.file_size, sub, res, depth, m.name.rsplit("/", 1)[-1])


def _is_keras_config(raw: bytes) -> bool:
    """A zip's config.json that is a Keras model config, by its content: a .keras file lacking its
    weights member (or naming them otherwise) is still loaded by keras from this config."""
    import json

    try:
        return looks_like_keras(json.loads(raw))
    except (UnicodeDecodeError, ValueError):
        return False


def _raw_bytes(f: BinaryIO, m: zipmod.Member) -> bool:
    """Whether a member torch reads as a storage is only that: numpy.load on the same archive reads a
    member named *.npy (or starting with the .npy magic) as an array, with its pickle if it holds
    objects, so such a member is scanned, not skipped."""
    if m.name.endswith(".npy"):
        return False
    head = zipmod.open_member(f, m).read(6)
    return head != b"\x93NUMPY"


def _torch_storages(f: BinaryIO, ms: list[zipmod.Member], loc: str, res: FileResult) -> tuple[set[str], set[str]]:
    """Scan every data.pkl; return the storage members they reference (raw tensor bytes) and their names."""
    storages: set[str] = set()
    pickles: set[str] = set()
    for m in ms:
        if not m.name.endswith("data.pkl"):
            continue
        prefix = m.name[: -len("data.pkl")]
        hook = JoblibHook()
        if _bomb(m.file_size, m.compress_size, f"{loc}!{m.name}", res):
            pickles.add(m.name)
            continue
        try:
            stream = zipmod.open_member(f, m)
            # a data.pkl is small next to its tensors: read it whole, then walk it at C speed
            source = io.BytesIO(stream.read(m.file_size)) if m.file_size <= SPOOL_MEMORY else stream
            analyses = analyse(Reader(source), build_hook=hook)
        except ScanError as e:
            res.issues.append(
                Issue(Severity.MEDIUM, "pickle/malformed", f"data.pkl is not a pickle ({e})", f"{loc}!{m.name}")
            )
            continue
        issues, safe = to_issues(analyses + hook.nested, f"{loc}!{m.name}")
        res.issues.extend(issues)
        res.safe_imports |= safe
        pickles.add(m.name)
        for a in analyses:
            for pid in a.persistent_ids:  # ('storage', storage type, key, location, numel)
                if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[2], str):
                    storages.add(f"{prefix}data/{pid[2]}")
    if storages:
        res.format = "pytorch-zip"
    return storages, pickles


def _bomb(size: int, compressed: int, loc: str, res: FileResult, *, more: bool = False) -> bool:
    """Report (and say to skip) a member that would expand past BOMB_MIN at more than BOMB_RATIO x;
    `more`: the expansion was stopped at `size`, the whole is larger."""
    if size <= BOMB_MIN or size <= BOMB_RATIO * max(compressed, 1):
        return False
    at_least = "at least " if more else ""
    res.issues.append(
        Issue(
            Severity.MEDIUM,
            "archive/decompression-bomb",
            f"expands {compressed} bytes to {at_least}{size} ({size / max(compressed, 1):.0f}x): a loader exhausts "
            "memory "
            "or disk; not expanded, so not scanned",
            loc,
        )
    )
    return True


def _scan_member(stream: Any, size: int, loc: str, res: FileResult, depth: int, name: str) -> None:
    if size <= 1 << 20:  # small members (version, byteorder, configs) need no temporary file
        data = stream.read(size + 1)
        _scan_seekable(io.BytesIO(data), len(data), loc, res, depth + 1, name, None)
        return
    with _spool(stream) as (g, n):
        _scan_seekable(g, n, loc, res, depth + 1, name, None)


def _scan_tar(f: BinaryIO, loc: str, res: FileResult, depth: int) -> None:
    import tarfile

    try:
        with tarfile.open(fileobj=f, mode="r:") as t:
            for info in t:
                sub = f"{loc}!{info.name}"
                if info.name.startswith("/") or ".." in Path(info.name).parts:
                    res.issues.append(
                        Issue(
                            Severity.HIGH,
                            "archive/path-traversal",
                            f"member path {info.name!r} escapes the extraction folder",
                            sub,
                        )
                    )
                if info.issym() or info.islnk():
                    res.issues.append(Issue(Severity.MEDIUM, "archive/link", f"link to {info.linkname!r}", sub))
                if info.isfile():
                    member = t.extractfile(info)
                    if member is not None:
                        _scan_member(member, info.size, sub, res, depth, info.name.rsplit("/", 1)[-1])
    except tarfile.TarError as e:
        raise ScanError(f"cannot read tar archive ({e})") from None


def _scan_7z(f: BinaryIO, loc: str, res: FileResult, depth: int) -> None:
    import tempfile

    try:
        import py7zr
    except ImportError:
        raise ScanError("7z archive: install py7zr to scan it (pip install py7zr)") from None
    with tempfile.TemporaryDirectory(prefix="mlaudit-7z-") as tmp:
        try:
            with py7zr.SevenZipFile(f, mode="r") as z:
                names = z.getnames()
                for n in names:
                    if n.startswith("/") or ".." in Path(n).parts:
                        raise ScanError(f"7z member path {n!r} escapes the extraction folder")
                z.extractall(path=tmp)
        except py7zr.exceptions.Bad7zFile as e:
            raise ScanError(f"cannot read 7z archive ({e})") from None
        for p in sorted(Path(tmp).rglob("*")):
            if p.is_file() and not p.is_symlink():
                with open(p, "rb") as g:
                    _scan_seekable(g, p.stat().st_size, f"{loc}!{p.relative_to(tmp)}", res, depth + 1, p.name, None)


class _ZlibStream:
    def __init__(self, f: BinaryIO) -> None:
        self.f, self.z, self.buf = f, zlib.decompressobj(), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            raw = self.f.read(1 << 20)
            if not raw:
                self.buf += self.z.flush()
                break
            self.buf += self.z.decompress(raw)
        out, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
        return out

    def __enter__(self) -> _ZlibStream:
        return self

    def __exit__(self, *a: object) -> None:
        pass


def _decompress(f: BinaryIO, kind: str) -> Any:
    import bz2
    import gzip
    import lzma

    if kind == "gzip":
        return gzip.GzipFile(fileobj=f)
    if kind == "bz2":
        return bz2.BZ2File(f)
    if kind == "lzma":
        return lzma.LZMAFile(f)
    if kind == "zlib":
        return _ZlibStream(f)
    try:
        import lz4.frame
    except ImportError:
        raise ScanError("lz4-compressed file: install lz4 to scan it") from None
    return lz4.frame.open(f)


class _spool:
    """Copy a stream into a temporary file (in memory up to 32 MB, then on disk) for random access."""

    def __init__(self, stream: Any, cap: int | None = None) -> None:
        import tempfile

        self.stream, self.cap = stream, cap  # copy at most cap + 1 bytes: more says "beyond the cap"
        self.tmp: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)

    def __enter__(self) -> tuple[BinaryIO, int]:
        import lzma

        left = (1 << 62) if self.cap is None else self.cap + 1
        try:
            while left > 0:
                chunk = self.stream.read(min(1 << 20, left))
                if not chunk:
                    break
                self.tmp.write(chunk)
                left -= len(chunk)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
            raise ScanError(f"cannot decompress ({e})") from None
        n = self.tmp.tell()
        self.tmp.seek(0)
        return self.tmp, n  # type: ignore[return-value]

    def __exit__(self, *a: object) -> None:
        self.tmp.close()
