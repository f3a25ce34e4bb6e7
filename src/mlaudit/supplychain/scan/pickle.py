"""Static, opcode-level pickle analysis. Never unpickles and never imports what it reads.

It walks the opcode stream with a symbolic stack: strings, numbers and containers are tracked as
values, calls and anything it does not model are opaque. Every import (GLOBAL, STACK_GLOBAL, INST)
is classified by the allow-list policy; an import whose name is computed at load time is critical.
FRAME lengths are ignored (opcodes are read one by one), stacked pickles are all read, and when a
stream breaks, what came before is still reported (the unpickler runs it before failing).
"""

from __future__ import annotations

import codecs
import pickletools
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mlaudit.findings import Severity
from mlaudit.supplychain.scan.issues import Issue, ScanError
from mlaudit.supplychain.scan.policy import classify

_CODE2OP = {op.code: op for op in pickletools.opcodes}
MAX_INLINE = 1 << 20  # byte / string arguments up to this size are read; larger ones are skipped unread
MAX_LINE = 1 << 16  # text-protocol arguments
MAX_STACK = 1 << 20
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_CHUNK = 1 << 20


class _Mark:
    pass


MARK = _Mark()


class Opaque:
    """A value the analyser does not model (the result of a call, a large buffer, ...)."""

    def __repr__(self) -> str:
        return "?"


@dataclass
class Global:
    module: str | None  # None: computed at load time
    name: str | None
    offset: int

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Call:
    func: Any
    args: Any
    offset: int
    state: Any = None


@dataclass
class PersistentRef:
    pid: Any


@dataclass
class Large:
    size: int


class Reader:
    """Sequential reader over a binary stream that can skip without holding data in memory."""

    def __init__(self, f: BinaryIO | Any) -> None:
        self.f = f
        self.cut = False  # the last text argument was longer than MAX_LINE (see readline)
        self.pos = 0

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise EOFError(f"stream ends at byte {self.pos + len(b)}, {n} bytes expected")
        self.pos += n
        return b

    def skip(self, n: int) -> None:
        while n > 0:
            b = self.f.read(min(n, _CHUNK))
            if not b:
                raise EOFError(f"stream ends at byte {self.pos}, {n} more bytes expected")
            self.pos += len(b)
            n -= len(b)

    def readline(self) -> bytes:
        """One text argument without its newline. CPython reads text arguments of any length: a longer
        one than MAX_LINE is read through to its newline and returned cut to MAX_LINE bytes (with
        `self.cut` set), never refused (a refusal would make the bytes "not a pickle")."""
        line = self.f.readline(MAX_LINE + 1)
        self.pos += len(line)
        self.cut = False
        while not line.endswith(b"\n") and len(line) > MAX_LINE:  # the rest of an over-long line, skipped
            more = self.f.readline(_CHUNK)
            if not more:
                raise EOFError(f"stream ends inside a text argument at byte {self.pos}")
            self.pos += len(more)
            self.cut = True
            if more.endswith(b"\n"):
                return line[:MAX_LINE]
        if not line.endswith(b"\n"):
            raise EOFError(f"stream ends inside a text argument at byte {self.pos}")
        return line[:-1]


@dataclass
class PickleAnalysis:
    """Everything one pickle stream showed."""

    imports: list[Global] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    error_offset: int | None = None
    protocol: int | None = None
    opcodes: int = 0
    issues: list[Issue] = field(default_factory=list)
    persistent_ids: list[Any] = field(default_factory=list)


BuildHook = Callable[[Call, Reader], None]


def _len_arg(r: Reader, nbytes: int, signed: bool = False) -> int:
    return int.from_bytes(r.read(nbytes), "little", signed=signed)


_FIXED_ARGS = {"uint1": (1, False), "uint2": (2, False), "int4": (4, True), "uint4": (4, False), "uint8": (8, False)}
_SIZED_ARGS = {
    "string1": 1, "bytes1": 1, "unicodestring1": 1, "long1": 1, "string4": 4, "bytes4": 4, "unicodestring4": 4,
    "long4": 4, "bytes8": 8, "unicodestring8": 8, "bytearray8": 8,
}  # fmt: skip


def _read_arg(r: Reader, name: str, opcode: str = "") -> Any:
    """Read one opcode argument by pickletools' descriptor name, as CPython's unpickler reads it for
    `opcode`; large blobs are skipped, not read."""
    fixed = _FIXED_ARGS.get(name)
    if fixed is not None:
        return int.from_bytes(r.read(fixed[0]), "little", signed=fixed[1])
    if name == "float8":
        return struct.unpack(">d", r.read(8))[0]
    if name in _SIZED_ARGS:
        n = _len_arg(r, _SIZED_ARGS[name], signed=name in ("string4", "long4"))
        if n < 0:
            raise ScanError(f"negative length {n} at byte {r.pos}")
        if name.startswith("long"):
            if n > 1 << 16:
                raise ScanError(f"integer of {n} bytes at byte {r.pos}")
            return int.from_bytes(r.read(n), "little", signed=True)
        if n > MAX_INLINE:
            r.skip(n)
            return Large(n)
        raw = r.read(n)
        if name.startswith("unicode"):
            return raw.decode("utf-8", "surrogatepass")
        if name.startswith("string"):
            return raw.decode("latin-1")  # protocol 0-2 str: STACK_GLOBAL accepts these as names
        return raw
    line = r.readline()
    if name == "stringnl_noescape_pair":  # GLOBAL, INST: module and name lines, UTF-8, taken as they are
        return (line.decode("utf-8"), r.readline().decode("utf-8"))
    if name == "stringnl_noescape":  # PERSID: ASCII, as it is
        return line.decode("ascii")
    if name == "stringnl":  # STRING: quoted, then escape-decoded (a name may be spelt with \x escapes)
        if r.cut:
            return Large(MAX_LINE)
        if len(line) < 2 or line[:1] != line[-1:] or line[:1] not in (b"'", b'"'):
            raise ScanError(f"the STRING argument {line[:20]!r} at byte {r.pos} is not quoted (CPython refuses it)")
        return codecs.escape_decode(line[1:-1])[0].decode("latin-1")
    if name == "unicodestringnl":
        return line.decode("raw_unicode_escape")
    if name in ("decimalnl_short", "decimalnl_long"):
        return _decimal(line, opcode, r)
    if name == "floatnl":
        return Opaque()
    raise ScanError(f"unsupported argument kind {name}")


def _decimal(line: bytes, opcode: str, r: Reader) -> Any:
    """A text integer as CPython's unpickler reads it: INT gives False / True for "00" / "01", else
    int(s, 0) (so 0x1f, 0o17, 0b101 and 1_000 are numbers); LONG drops one trailing L, then int(s, 0);
    GET, PUT and the other memo opcodes take base 10."""
    if r.cut:
        return Opaque()  # more digits than anything reads back as an index: a number, not tracked
    try:
        if opcode == "INT" and line in (b"00", b"01"):
            return line == b"01"
        if opcode == "INT":
            return int(line, 0)
        if opcode == "LONG":
            return int(line[:-1] if line.endswith(b"L") else line, 0)
        return int(line)
    except ValueError:
        raise ScanError(f"bad integer {line[:20]!r} for {opcode} at byte {r.pos}") from None


# opcodes step() handles by name; every other opcode with an argument, nothing popped and one value pushed
# pushes its argument (INT, BININT*, LONG*, STRING*, BINUNICODE*, BINBYTES*, FLOAT, ...)
_EXPLICIT = frozenset({
    "STOP", "MARK", "PROTO", "FRAME", "GLOBAL", "INST", "STACK_GLOBAL", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ",
    "BUILD", "EXT1", "EXT2", "EXT4", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    "PERSID", "BINPERSID",
})  # fmt: skip
_PUSHES_ARG = frozenset(
    op.name for op in pickletools.opcodes
    if op.arg is not None and not op.stack_before and len(op.stack_after) == 1 and op.name not in _EXPLICIT
)  # fmt: skip


class _Machine:
    def __init__(self, out: PickleAnalysis, build_hook: BuildHook | None) -> None:
        self.stack: list[Any] = []
        self.memo: dict[Any, Any] = {}
        self.out = out
        self.build_hook = build_hook

    def pop(self) -> Any:
        if not self.stack:
            raise ScanError("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        items: list[Any] = []
        while True:
            v = self.pop()
            if v is MARK:
                return items[::-1]
            items.append(v)

    def push(self, v: Any) -> None:
        if len(self.stack) >= MAX_STACK:
            raise ScanError(f"stack deeper than {MAX_STACK}")
        self.stack.append(v)

    def global_(self, module: Any, name: Any, offset: int) -> None:
        ok = isinstance(module, str) and isinstance(name, str)
        g = Global(module if ok else None, name if ok else None, offset)
        self.out.imports.append(g)
        self.push(g)

    def call(self, func: Any, args: Any, offset: int) -> None:
        c = Call(func, args, offset)
        self.out.calls.append(c)
        self.push(c)

    def step(self, op: pickletools.OpcodeInfo, arg: Any, offset: int, r: Reader) -> bool:
        """Apply one opcode; return True on STOP."""
        n = op.name
        if n in _PUSHES_ARG:  # the commonest opcodes first (as `generic` would treat them)
            self.push(arg)
            return False
        if n in ("BINPUT", "MEMOIZE", "LONG_BINPUT", "PUT"):
            self.memo[len(self.memo) if n == "MEMOIZE" else arg] = self.stack[-1] if self.stack else Opaque()
            return False
        if n == "STOP":
            self.out.result = self.pop()
            return True
        if n == "MARK":
            self.push(MARK)
        elif n == "PROTO":
            self.out.protocol = arg
            if not 0 <= arg <= 5:
                self.out.issues.append(
                    Issue(Severity.MEDIUM, "pickle/malformed", f"unknown pickle protocol {arg}", "", offset)
                )
        elif n == "FRAME":
            pass  # frame lengths are not trusted: opcodes are read one by one regardless
        elif n in ("GLOBAL", "INST"):
            module, name = arg
            self.global_(module, name, offset)
            if n == "INST":
                g = self.pop()
                self.call(g, tuple(self.pop_mark()), offset)
        elif n == "STACK_GLOBAL":
            name, module = self.pop(), self.pop()
            self.global_(module, name, offset)
        elif n in ("REDUCE", "NEWOBJ"):
            args, func = self.pop(), self.pop()
            self.call(func, args, offset)
        elif n == "NEWOBJ_EX":
            kwargs, args, cls = self.pop(), self.pop(), self.pop()
            self.call(cls, (args, kwargs), offset)
        elif n == "OBJ":
            items = self.pop_mark()
            if not items:
                raise ScanError("OBJ without a class")
            self.call(items[0], tuple(items[1:]), offset)
        elif n == "BUILD":
            state, obj = self.pop(), self.pop()
            if isinstance(obj, Call):
                obj.state = state
                if self.build_hook is not None:
                    self.build_hook(obj, r)
            self.push(obj)
        elif n in ("EXT1", "EXT2", "EXT4"):
            self.out.issues.append(
                Issue(
                    Severity.MEDIUM,
                    "pickle/extension-registry",
                    f"imports through the copyreg extension registry (code {arg})",
                    "",
                    offset,
                )
            )
            self.global_(None, None, offset)
        elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[arg] = self.stack[-1] if self.stack else Opaque()
        elif n == "MEMOIZE":
            self.memo[len(self.memo)] = self.stack[-1] if self.stack else Opaque()
        elif n in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise ScanError(f"memo key {arg!r} read before it was written")
            self.push(self.memo[arg])
        elif n in ("PERSID", "BINPERSID"):
            ref = PersistentRef(arg if n == "PERSID" else self.pop())
            self.out.persistent_ids.append(ref.pid)
            self.push(ref)
        else:
            self.generic(op, arg)
        return False

    def generic(self, op: pickletools.OpcodeInfo, arg: Any) -> None:
        n = op.name
        if n in ("NONE",):
            self.push(None)
        elif n in ("NEWTRUE", "NEWFALSE"):
            self.push(n == "NEWTRUE")
        elif op.arg is not None and not op.stack_before and len(op.stack_after) == 1:
            self.push(arg)  # INT, BININT*, LONG*, STRING*, BINUNICODE*, BINBYTES*, FLOAT ...
        elif n in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_SET"):
            self.push({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": (), "EMPTY_SET": set()}[n])
        elif n in ("TUPLE", "LIST", "DICT", "FROZENSET"):
            items = self.pop_mark()
            self.push(_container(n, items))
        elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(n[-1])
            items = [self.pop() for _ in range(k)][::-1]
            self.push(tuple(items))
        elif n in ("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"):
            items = (
                [self.pop()]
                if n == "APPEND"
                else self.pop_mark()
                if n in ("APPENDS", "SETITEMS", "ADDITEMS")
                else [self.pop(), self.pop()][::-1]
            )
            target = self.stack[-1] if self.stack else None
            if target is None:
                raise ScanError(f"{n} with nothing to add to")
            _extend(target, n, items)
        elif n == "POP":
            self.pop()
        elif n == "POP_MARK":
            self.pop_mark()
        elif n == "DUP":
            self.push(self.stack[-1] if self.stack else Opaque())
        else:  # NEXT_BUFFER, READONLY_BUFFER, and anything else: generic stack effect
            before = op.stack_before
            if pickletools.markobject in before:
                self.pop_mark()
            else:
                for _ in before:
                    self.pop()
            for _ in op.stack_after:
                self.push(Opaque())


def _container(kind: str, items: list[Any]) -> Any:
    if kind == "TUPLE":
        return tuple(items)
    if kind == "LIST":
        return list(items)
    if kind == "FROZENSET":
        return Opaque()
    d: dict[Any, Any] = {}
    _extend(d, "SETITEMS", items)
    return d


def _extend(target: Any, kind: str, items: list[Any]) -> None:
    if isinstance(target, list) and kind in ("APPEND", "APPENDS"):
        target.extend(items)
    elif isinstance(target, dict) and kind in ("SETITEM", "SETITEMS"):
        for k, v in zip(items[::2], items[1::2], strict=False):
            try:
                target[k] = v
            except TypeError:  # unhashable symbolic key: the value is not needed
                pass


# per opcode byte: (opcode, argument name, fixed width or 0, signed, pushes its argument and nothing else)
_BY_BYTE: dict[bytes, tuple[pickletools.OpcodeInfo, str | None, int, bool, bool]] = {}


def _by_byte() -> None:
    for op in pickletools.opcodes:
        name = op.arg.name if op.arg is not None else None
        width, signed = _FIXED_ARGS.get(name or "", (0, False))
        _BY_BYTE[op.code.encode("latin-1")] = (op, name, width, signed, op.name in _PUSHES_ARG)


_by_byte()


def analyse_stream(r: Reader, out: PickleAnalysis, *, build_hook: BuildHook | None = None) -> None:
    """Walk one pickle (up to STOP) from the reader's position, recording into `out` as it goes.
    Dispatch is by the opcode byte; fixed-width arguments and opcodes that only push their argument
    (the bulk of a checkpoint's data.pkl) are handled inline, the rest by `_Machine.step`."""
    m = _Machine(out, build_hook)
    read, stack = r.f.read, m.stack
    while True:
        offset = r.pos
        code = read(1)
        if not code:
            raise EOFError(f"stream ends at byte {offset} before STOP")
        r.pos += 1
        entry = _BY_BYTE.get(code)
        if entry is None:
            raise ScanError(f"byte {code!r} at offset {offset} is not a pickle opcode")
        op, argname, width, signed, pushes = entry
        if width:
            b = read(width)
            if len(b) != width:
                raise EOFError(f"stream ends at byte {r.pos + len(b)}, {width} bytes expected")
            r.pos += width
            arg: Any = int.from_bytes(b, "little", signed=signed)
        else:
            arg = _read_arg(r, argname, op.name) if argname is not None else None
        out.opcodes += 1
        if pushes and len(stack) < MAX_STACK:
            stack.append(arg)
        elif m.step(op, arg, offset, r):
            return


def analyse(
    r: Reader, *, build_hook: BuildHook | None = None, max_pickles: int | None = None, continuation: bool = False
) -> list[PickleAnalysis]:
    """Analyse every pickle of a stacked stream. A broken stream keeps what was read before it.

    Raises ScanError when the very first opcode is not a pickle opcode (the input is not a pickle),
    unless `continuation` says the stream follows an earlier pickle (then it is trailing data).
    """
    results: list[PickleAnalysis] = []
    while max_pickles is None or len(results) < max_pickles:
        start = r.pos
        a = PickleAnalysis()
        try:
            analyse_stream(r, a, build_hook=build_hook)
        except (ScanError, EOFError, UnicodeDecodeError, ValueError) as e:
            if not results and a.opcodes == 0 and not continuation:
                raise ScanError(f"not a pickle ({e})") from None
            if (results or continuation) and r.pos - start == 0:
                break  # the stacked stream ended cleanly after a STOP
            a.error, a.error_offset = str(e), r.pos
            results.append(a)
            break
        results.append(a)
    return results


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def plausible(a: PickleAnalysis) -> bool:
    """Whether bytes that merely start like a protocol-0 pickle really are one: it reached STOP, or
    it imported something whose name looks like a Python name (a payload before a broken tail)."""
    return a.error is None or any(
        g.module is not None and _IDENT.match(g.module) and _IDENT.match(g.name or "") for g in a.imports
    )


# allocations a "safe" constructor makes from a constant argument: bytearray(n) / bytes(n) allocate n bytes,
# and list / tuple / set / ... over range(n) build n objects
_SIZED = frozenset({"builtins.bytearray", "builtins.bytes", "__builtin__.bytearray", "__builtin__.bytes"})
_COLLECT = frozenset(
    f"{m}.{n}"
    for m in ("builtins", "__builtin__")
    for n in ("list", "tuple", "set", "frozenset", "dict", "bytearray", "bytes")
)
MAX_ALLOCATION = 1 << 26  # 64 Mi bytes or items from one constant: far beyond any state a checkpoint rebuilds


def _allocation(c: Call) -> int | None:
    """The bytes or items a call to a safe constructor allocates from constant arguments, when known."""
    name = c.func.full if isinstance(c.func, Global) else None
    args = c.args if isinstance(c.args, tuple) else ()
    if name in _SIZED and args and type(args[0]) is int:
        return abs(args[0])
    if name in _COLLECT and args and isinstance(args[0], Call) and isinstance(args[0].func, Global):
        inner = args[0]
        if inner.func.full in ("builtins.range", "__builtin__.xrange") and isinstance(inner.args, tuple):
            ints = [a for a in inner.args if type(a) is int]
            if len(ints) == len(inner.args) and 1 <= len(ints) <= 3:
                return len(range(*ints))
    return None


def to_issues(analyses: list[PickleAnalysis], location: str) -> tuple[list[Issue], set[str]]:
    """Classify every import of every pickle; safe ones are returned by name, the rest as issues."""
    issues: list[Issue] = []
    safe: set[str] = set()
    for i, a in enumerate(analyses):
        called = {id(c.func) for c in a.calls}
        for g in a.imports:
            if g.module is None:
                issues.append(
                    Issue(
                        Severity.CRITICAL,
                        "pickle/computed-import",
                        "imports a name computed while loading (it cannot be checked statically)",
                        location,
                        g.offset,
                        "?",
                    )
                )
                continue
            v = classify(g.module, g.name or "")
            if v.severity == Severity.INFO:
                safe.add(g.full)
                continue
            how = "calls" if id(g) in called else "imports"
            issues.append(Issue(v.severity, f"pickle/{v.kind}", f"{how} {g.full}: {v.why}", location, g.offset, g.full))
        issues.extend(Issue(x.severity, x.rule, x.message, location, x.offset, x.trigger) for x in a.issues)
        for c in a.calls:
            n = _allocation(c)
            if n is not None and n > MAX_ALLOCATION:
                issues.append(
                    Issue(
                        Severity.MEDIUM,
                        "pickle/allocation",
                        f"calls {c.func.full} to build {n} bytes or items from one constant: loading exhausts memory",
                        location,
                        c.offset,
                        c.func.full,
                    )
                )
        if a.error is not None:
            if i > 0 and a.opcodes == 0 and not a.imports:
                issues.append(
                    Issue(
                        Severity.LOW,
                        "pickle/trailing-data",
                        f"bytes after the last pickle are not a pickle ({a.error})",
                        location,
                        a.error_offset,
                    )
                )
            else:
                issues.append(
                    Issue(
                        Severity.MEDIUM,
                        "pickle/malformed",
                        f"pickle stream {i + 1} breaks ({a.error}); an unpickler runs everything before the break",
                        location,
                        a.error_offset,
                    )
                )
    return issues, safe
