"""Issue 21, class 5 (part): formats a reader finds away from byte 0. A pickle with a zip appended
(zipfile and numpy.load find the zip by its end record) and a file with HDF5 after a user block are
scanned under every view and reported as polyglots; ordinary zips, pickles and safetensors are not."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

from ..corpus.payloads import p2_global_call


def _zip(members: dict[str, bytes]) -> bytes:
    """The members zipped with one fixed timestamp: writestr(name) stamps the clock's, and the bytes after
    the pickle are then the clock's too: at some seconds of every eighth minute (and all of 01:16-01:19) the
    DOS time holds 0x0a, the newline that ends the argument of the 'P' opcode the pickle view reads there,
    and the view's verdict changed (143 of 5,400 timestamps from 00:00 to 03:00, measured)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def test_a_pickle_with_a_zip_appended_is_scanned_as_both(tmp_path):
    clean = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)
    path = tmp_path / "model.pkl"
    path.write_bytes(clean + _zip({"inner/data.pkl": p2_global_call("os", "system")}))
    (r,) = scan_paths([path])
    rules = {i.rule: i.severity for i in r.issues}
    assert rules.get("format/polyglot") == Severity.LOW, r.issues  # listed; the hidden view's payload is the finding
    assert any(i.severity >= Severity.HIGH and "as-zip" in i.location for i in r.issues), r.issues
    path.write_bytes(clean + _zip({"inner/w.npy": b"\x93NUMPY"}))  # both views harmless: listed, not flagged
    (r,) = scan_paths([path])
    assert {i.rule: i.severity for i in r.issues}.get("format/polyglot") == Severity.LOW and r.worst < Severity.MEDIUM


def test_hdf5_after_a_user_block_is_found(tmp_path):
    import h5py

    path = tmp_path / "weights.bin"
    with h5py.File(path, "w", userblock_size=1024) as h:
        h.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": []}}'
    raw = bytearray(path.read_bytes())
    raw[:4] = pickle.dumps(None, protocol=2)  # the user block is a pickle: a reader by magic sees a pickle
    path.write_bytes(bytes(raw))
    (r,) = scan_paths([path])
    assert "format/polyglot" in {i.rule for i in r.issues}, (r.error, r.issues)


def test_ordinary_files_are_not_polyglots(tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip({"x.txt": b"hello"}))
    (tmp_path / "a.pkl").write_bytes(pickle.dumps({"a": np.arange(3)}, protocol=4))
    from safetensors.numpy import save_file

    save_file({"w": np.random.default_rng(0).standard_normal(50_000).astype(np.float32)}, tmp_path / "a.safetensors")
    for r in scan_paths([tmp_path]):
        assert "format/polyglot" not in {i.rule for i in r.issues}, r.path
