"""Issue 21: fuzzing the scanner against the real readers (hypothesis).

Pickle opcode streams are drawn from a grammar of the opcodes CPython's unpickler knows (protocol-0
text arguments and binary ones, GLOBAL and STACK_GLOBAL over names safe and dangerous, memo, marks,
containers, REDUCE / BUILD, stacked pickles, broken tails). Each stream is also run through CPython's
own unpickler with `find_class` replaced by a recorder (nothing is imported, nothing called: the
recorder hands back an inert stand-in), which gives the imports a real `pickle.load` would make
before it stops. Properties:

- the scanner never crashes and answers every stream (a result, never an exception);
- every import the real unpickler makes is seen by the scanner: listed as safe, reported as an issue,
  or the file is reported as not scannable (`error`) or flagged at high severity (no stream the real
  loader reads an import from is passed clean without that import in view);
- zip and tar layouts (prefixes, comments, stored or deflated members, a pickle member anywhere) that
  Python's zipfile / tarfile read: a dangerous pickle member is flagged.

`make test` runs a bounded number of examples (the "ci" profile of tests/conftest.py, about 20 s);
`make fuzz` runs the "fuzz" profile (many more, no time limit).
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

SAFE_NAMES = [
    ("collections", "OrderedDict"), ("builtins", "set"), ("torch._utils", "_rebuild_tensor_v2"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("datetime", "datetime"),
]  # fmt: skip
DANGEROUS = [
    ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"), ("subprocess", "Popen"),
    ("builtins", "getattr"), ("importlib", "import_module"), ("runpy", "_run_code"), ("socket", "create_connection"),
    ("webbrowser", "open"), ("shutil", "rmtree"), ("nt", "system"),
]  # fmt: skip
NAMES = SAFE_NAMES + DANGEROUS + [("mymodule", "Thing"), ("sklearn.linear_model._base", "LinearRegression")]


class _Inert:
    """What the recorder returns for every import: accepts any call, state and item, does nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Inert:
        return _Inert()

    def __setstate__(self, state: object) -> None:
        pass

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_Inert, ())


class _Recorder(pickle.Unpickler):
    """CPython's unpickler (the C one) with imports recorded instead of made."""

    def __init__(self, f: io.BytesIO) -> None:
        super().__init__(f, encoding="latin-1")
        self.imports: list[str] = []

    def find_class(self, module: str, name: str) -> type:
        self.imports.append(f"{module}.{name}")
        return _Inert

    def persistent_load(self, pid: object) -> _Inert:
        return _Inert()


def real_imports(data: bytes) -> list[str]:
    """The imports `pickle.load` would make on `data`, every stacked pickle, until it stops or fails."""
    f = io.BytesIO(data)
    seen: list[str] = []
    while f.tell() < len(data):
        u = _Recorder(f)
        try:
            u.load()
        except Exception:  # noqa: BLE001 - a broken stream: what was imported before still counts
            seen += u.imports
            break
        seen += u.imports
    return seen


# -- the grammar --------------------------------------------------------------------------------------
def _text_arg(s: str) -> bytes:
    return s.encode("ascii") + b"\n"


@st.composite
def _push(draw: st.DrawFn) -> bytes:
    """One opcode that pushes a value, in any of the spellings CPython reads."""
    kind = draw(st.sampled_from(["int", "binint", "long", "str", "unicode", "short", "none", "bool", "float"]))
    n = draw(st.integers(-(2**40), 2**40))
    word = draw(st.sampled_from([m for m, _ in NAMES] + [nm for _, nm in NAMES] + ["x", "", "a b"]))
    if kind == "int":
        return b"I" + _text_arg(draw(st.sampled_from([str(n), hex(n), f" {n} ", "00", "01"])))
    if kind == "binint":
        return b"J" + struct.pack("<i", max(min(n, 2**31 - 1), -(2**31)))
    if kind == "long":
        return b"L" + _text_arg(f"{n}L")
    if kind == "str":
        q = draw(st.sampled_from(["'", '"']))
        spelt = "".join(f"\\x{ord(c):02x}" if draw(st.booleans()) else c for c in word)
        return b"S" + _text_arg(f"{q}{spelt}{q}")
    if kind == "unicode":
        return b"V" + _text_arg(word)
    if kind == "short":
        raw = word.encode()
        return b"\x8c" + bytes([len(raw)]) + raw
    if kind == "bool":
        return draw(st.sampled_from([b"\x88", b"\x89"]))
    if kind == "float":
        return b"G" + struct.pack(">d", float(n))
    return b"N"


@st.composite
def _import(draw: st.DrawFn) -> bytes:
    module, name = draw(st.sampled_from(NAMES))
    if draw(st.booleans()):
        return b"c" + _text_arg(module) + _text_arg(name)
    m, n = module.encode(), name.encode()
    return b"\x8c" + bytes([len(m)]) + m + b"\x8c" + bytes([len(n)]) + n + b"\x93"  # STACK_GLOBAL


_STRUCTURE = [
    b"(", b")", b"]", b"}", b"t", b"\x85", b"\x86", b"\x87", b"l", b"d", b"a", b"e", b"s", b"u", b"R", b"b",
    b"0", b"2", b"\x94", b"q\x00", b"h\x00", b"p0\n", b"g0\n", b"\x81", b"\x8f", b"\x90", b"1",
]  # fmt: skip


@st.composite
def pickles(draw: st.DrawFn) -> bytes:
    """A stream of up to 3 stacked pickles, each of up to 30 opcodes, maybe with a broken tail."""
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        proto = draw(st.sampled_from([b"", b"\x80\x02", b"\x80\x04"]))
        ops = draw(st.lists(st.one_of(_push(), _import(), st.sampled_from(_STRUCTURE)), min_size=1, max_size=30))
        out += proto + b"".join(ops) + draw(st.sampled_from([b".", b".", b".", b""]))
    return out + draw(st.sampled_from([b"", b"\x00", b"junk", b"\xff" * 8]))


def _scan(tmp_path, data: bytes, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    (r,) = scan_paths([path])
    return r


def _flagged(r) -> bool:
    return r.error is not None or r.worst >= Severity.HIGH


CI = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@CI
@given(data=pickles(), suffix=st.sampled_from([".pkl", ".bin", ".pt", ".ckpt"]))
def test_every_import_the_real_unpickler_makes_is_in_the_scanners_view(tmp_path, data, suffix):
    r = _scan(tmp_path, data, f"model{suffix}")  # never raises: a crash fails the example
    imports = real_imports(data)
    if not imports or _flagged(r):
        return
    seen = r.safe_imports | {i.trigger for i in r.issues if i.trigger}
    missing = [i for i in imports if i not in seen]
    assert not missing, (data, missing, r.to_dict())
    dangerous = {f"{m}.{n}" for m, n in DANGEROUS}
    assert not dangerous & set(imports), (data, r.to_dict())  # a dangerous import is always flagged


@st.composite
def archives(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(a zip or tar holding members, one maybe a pickle that imports os.system; whether it does)."""
    payload = draw(pickles())
    bad = b"cos\nsystem\n(S'true'\ntR." if draw(st.booleans()) else b""
    name = draw(st.sampled_from(["archive/data.pkl", "data.pkl", "x/y/z.bin", "model.pt", "a/data/0", "payload"]))
    members = [(name, bad + payload if bad else payload)]
    members += [(f"m{i}.txt", draw(st.binary(max_size=64))) for i in range(draw(st.integers(0, 3)))]
    buf = io.BytesIO()
    if draw(st.booleans()):
        buf.write(draw(st.binary(max_size=600)))  # a prefix: zipfile still finds the end record
        how = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        with zipfile.ZipFile(buf, "a" if buf.tell() else "w", compression=how) as z:
            for n, d in members:
                z.writestr(n, d)
            z.comment = draw(st.binary(max_size=40))
    else:
        with tarfile.open(fileobj=buf, mode="w") as t:
            for n, d in members:
                info = tarfile.TarInfo(n)
                info.size = len(d)
                t.addfile(info, io.BytesIO(d))
    return buf.getvalue(), bool(bad)


def _member_imports(data: bytes) -> list[str]:
    """What pickle.load would import from any member either of Python's readers finds (a tar whose
    member bytes hold an end-of-central-directory record is a zip to zipfile too: both views count)."""
    out: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for n in z.namelist():
                out += real_imports(z.read(n))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        pass
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            for m in t.getmembers():
                f = t.extractfile(m)
                out += real_imports(f.read()) if f is not None else []
    except (tarfile.TarError, ValueError, OSError, EOFError):
        pass
    return out


@CI
@given(case=archives(), suffix=st.sampled_from([".zip", ".pt", ".bin", ".tar"]))
def test_a_dangerous_pickle_member_of_any_archive_layout_is_flagged(tmp_path, case, suffix):
    data, bad = case
    r = _scan(tmp_path, data, f"archive{suffix}")
    imports = _member_imports(data)
    dangerous = {f"{m}.{n}" for m, n in DANGEROUS}
    if bad:
        assert "os.system" in imports  # the oracle itself: the member really imports it
    if dangerous & set(imports):
        assert _flagged(r), (data[:200], imports, r.to_dict())
