"""`mlaudit backdoor build | victim | reconstruct | detect` end to end on digits (fast)."""

import json
import subprocess
import sys


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mlaudit", "backdoor", *args], capture_output=True, text=True)


def test_build_victim_reconstruct_detect(tmp_path):
    d = tmp_path / "bd"
    assert _cli("build", "--out", str(d), "--dataset", "digits", "--traps", "16").returncode == 0
    assert (d / "backdoored.safetensors").exists() and json.loads((d / "traps.json").read_text())["trap_units"]
    assert _cli("victim", str(d)).returncode == 0
    p = _cli("reconstruct", str(d))
    assert p.returncode == 0 and (d / "reconstructions.png").stat().st_size > 1000
    rep = json.loads((d / "reconstructions.json").read_text())
    assert rep["fired"] >= 1 and rep["ssim_at_least_0.9"] >= 1
    p = _cli("detect", str(d / "backdoored.safetensors"), "--format", "json")
    assert p.returncode == 1 and any(f["severity"] == "high" for f in json.loads(p.stdout))
    assert _cli("detect", str(d / "base.safetensors")).returncode == 0
    p = _cli("detect", str(tmp_path / "nope.safetensors"))
    assert p.returncode == 2 and "model not found" in p.stderr
