"""No extra may break the product (issue: installing the bench extra pulled PyPI's torchvision, which does
not import beside the local torch build and broke transformers' BERT): the extras name neither torchvision
nor a package that declares it (those go in with --no-deps from benchmarks/peers.txt), and in this
environment, whatever is installed, scripts/check-env.py imports BERT and runs a MiniLM forward pass."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DECLARE_TORCHVISION = {"torchvision", "torchattacks"}  # torchattacks 3.5.1 requires torchvision>=0.8.2


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def test_no_extra_pulls_torchvision():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for extra, reqs in project["optional-dependencies"].items():
        assert not {_name(r) for r in reqs} & DECLARE_TORCHVISION, extra
    assert not {_name(r) for r in project["dependencies"]} & DECLARE_TORCHVISION
    peers = [ln for ln in (ROOT / "benchmarks/peers.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert "torchattacks==3.5.1" in peers and "--no-deps -r benchmarks/peers.txt" in (ROOT / "Makefile").read_text()


def test_this_environment_keeps_bert_and_minilm_working():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/check-env.py")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "transformers' BERT imports" in out.stdout
