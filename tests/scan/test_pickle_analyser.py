"""The opcode-level analyser: what it flags, what it allows, and that it never runs anything."""

import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths
from mlaudit.supplychain.scan.pickle import Reader, analyse, to_issues
from mlaudit.supplychain.scan.policy import classify

from ..corpus.payloads import p2_global_call


class _MarkerPayload:
    """Pickles to os.system('touch MARKER'): if anything ever unpickled it, the marker would appear."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_payload_never_executed(tmp_path):
    marker = tmp_path / "executed"
    files = {"a.pkl": pickle.dumps(_MarkerPayload(marker)), "b.pkl": pickle.dumps(_MarkerPayload(marker), protocol=0)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save({"x": _MarkerPayload(marker)}, tmp_path / "c.pt")
    np.save(tmp_path / "d.npy", np.array([_MarkerPayload(marker)], dtype=object), allow_pickle=True)
    # scan in a fresh interpreter through the real CLI, so nothing in this process could mask an execution
    proc = subprocess.run([sys.executable, "-m", "mlaudit", "scan", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("proto", range(6))
def test_every_protocol(proto):
    class P:
        def __reduce__(self):
            return (os.system, ("true",))

    issues, _ = to_issues(analyse(Reader(io.BytesIO(pickle.dumps([1, {"k": P()}], protocol=proto)))), "x")
    assert [i.trigger for i in issues] == [f"{os.system.__module__}.system"]
    assert issues[0].severity == Severity.CRITICAL and issues[0].message.startswith("calls ")


def test_safe_constructors_are_info_only():
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "n": torch.tensor(3), "a": np.arange(3)}, buf, _use_new_zipfile_serialization=False)
    issues, safe = to_issues(analyse(Reader(io.BytesIO(buf.getvalue())), max_pickles=5), "x")
    assert issues == [] and "torch._utils._rebuild_tensor_v2" in safe


@pytest.mark.parametrize(
    "module,name,severity,kind",
    [
        ("collections", "OrderedDict", Severity.INFO, "safe-constructor"),
        ("sklearn.linear_model._logistic", "LogisticRegression", Severity.INFO, "ml-class"),
        ("os", "system", Severity.CRITICAL, "code-execution"),
        ("nt", "system", Severity.CRITICAL, "code-execution"),
        ("builtins", "getattr", Severity.HIGH, "indirection"),
        ("shutil", "rmtree", Severity.HIGH, "file-or-network"),
        ("torch.storage", "_load_from_bytes", Severity.CRITICAL, "nested-loader"),
        ("pathlib", "os.system", Severity.CRITICAL, "code-execution"),
        ("mymodule", "helper", Severity.MEDIUM, "unknown-import"),
        ("sklearn.utils", "some_function", Severity.MEDIUM, "unknown-import"),  # functions are not on the allow-list
        ("sysconfig", "get_paths", Severity.MEDIUM, "unknown-import"),  # 'sys' must not match by prefix
    ],
)
def test_policy(module, name, severity, kind):
    v = classify(module, name)
    assert (v.severity, v.kind) == (severity, kind)


def test_malformed_and_not_a_pickle(tmp_path):
    (tmp_path / "x.pkl").write_bytes(b"\x80\x02\xff\xff")
    r = scan_paths([tmp_path / "x.pkl"])[0]
    assert r.error is None and any(i.rule == "pickle/malformed" for i in r.issues)
    (tmp_path / "y.bin").write_bytes(bytes(range(200, 256)) * 4)
    r = scan_paths([tmp_path / "y.bin"])[0]
    assert r.format == "unknown" and r.error and not r.issues  # named like a model: not scanned is an error
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "y.dat").write_bytes(bytes(range(200, 256)) * 4)
    r = scan_paths([tmp_path / "d"])[0]
    assert r.error is None and r.issues[0].severity == Severity.LOW  # another file in a folder: listed, never clean


def test_huge_declared_lengths_do_not_allocate(tmp_path):
    """BINBYTES8 declaring 2**62 bytes: the analyser skips in chunks and stops at the end of the file."""
    data = b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"abc"
    (tmp_path / "big.pkl").write_bytes(data)
    r = scan_paths([tmp_path / "big.pkl"])[0]
    assert any(i.rule == "pickle/malformed" for i in r.issues)


def test_trailing_garbage_after_clean_pickle_is_low(tmp_path):
    (tmp_path / "t.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2) + b"\xff\xfe")
    r = scan_paths([tmp_path / "t.pkl"])[0]
    assert [i.rule for i in r.issues] == ["pickle/trailing-data"] and r.worst == Severity.LOW


def test_payload_before_broken_tail_reported(tmp_path):
    (tmp_path / "b.pkl").write_bytes(p2_global_call("os", "system")[:-1] + b"\xff")
    rules = {i.rule for i in scan_paths([tmp_path / "b.pkl"])[0].issues}
    assert {"pickle/code-execution", "pickle/malformed"} <= rules
