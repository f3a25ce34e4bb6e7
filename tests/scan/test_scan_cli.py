"""`mlaudit scan` and `mlaudit manifest`: exit codes, JSON and SARIF output."""

import json
import subprocess
import sys

import numpy as np

from ..corpus.payloads import SYSTEM


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mlaudit", *args], capture_output=True, text=True)


def test_exit_codes(tmp_path):
    np.save(tmp_path / "ok.npy", np.ones(2))
    (tmp_path / "bad.pkl").write_bytes(SYSTEM)
    assert _cli("scan", str(tmp_path / "ok.npy")).returncode == 0
    assert _cli("scan", str(tmp_path / "bad.pkl")).returncode == 1
    assert _cli("scan", "--fail-on", "critical", str(tmp_path / "bad.pkl")).returncode == 1
    (tmp_path / "odd.bin").write_bytes(bytes(range(250, 256)))
    assert _cli("scan", str(tmp_path / "odd.bin")).returncode == 2  # named, unknown format: not scanned
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "odd.dat").write_bytes(bytes(range(250, 256)))
    assert _cli("scan", str(tmp_path / "folder")).returncode == 0  # low: another file in a folder, below medium
    assert _cli("scan", "--fail-on", "low", str(tmp_path / "folder")).returncode == 1
    p = _cli("scan", str(tmp_path / "missing.pt"))
    assert p.returncode == 2 and p.stderr.startswith("mlaudit: error: no such file")


def test_unscannable_file_exits_2_never_clean(tmp_path):
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    p = _cli("scan", "--format", "json", str(tmp_path / "bad.gz"))
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["files"][0]["error"]


def test_sarif(tmp_path):
    (tmp_path / "bad.pkl").write_bytes(SYSTEM)
    p = _cli("scan", "--format", "sarif", "--output", str(tmp_path / "out.sarif"), str(tmp_path / "bad.pkl"))
    assert p.returncode == 1
    doc = json.loads((tmp_path / "out.sarif").read_text())
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "mlaudit"
    (res,) = run["results"]
    assert res["ruleId"] == "pickle/code-execution" and res["level"] == "error"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("bad.pkl")
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"pickle/code-execution"}


def test_manifest_round_trip(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "a.bin").write_bytes(b"1234")
    (model / "cfg.json").write_text("{}")
    assert _cli("manifest", "create", str(model)).returncode == 0
    assert _cli("manifest", "verify", str(model)).returncode == 0
    (model / "a.bin").write_bytes(b"1235")
    (model / "new.py").write_text("x = 1\n")
    p = _cli("manifest", "verify", str(model))
    assert p.returncode == 1 and "changed: a.bin" in p.stdout and "extra: new.py" in p.stdout
    p = _cli("manifest", "verify", str(tmp_path))
    assert p.returncode == 2 and "manifest not found" in p.stderr
