"""Every Python example in the README runs as written, in a fresh interpreter, with the data it
defines itself; each prints its results, which are checked here."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _run(code: str, tmp_path: Path) -> str:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_every_python_block_is_checked_here():
    assert len(BLOCKS) == 2  # a new README example needs its own check below


def test_library_example_runs_as_written(tmp_path):
    (code,) = [b for b in BLOCKS if "run_attack(" in b]
    severity, auc = _run(code, tmp_path).split()
    assert severity in {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"} and 0.0 <= float(auc) <= 1.0


@pytest.mark.filterwarnings("ignore")
def test_evasion_poisoning_example_runs_as_written(tmp_path):
    (code,) = [b for b in BLOCKS if "neural_cleanse(" in b]
    robust, queries, poisoned, flagged = _run(code, tmp_path).split(maxsplit=3)
    assert 0.0 <= float(robust) <= 1.0 and 0 < int(queries) <= 64 * 100 and int(poisoned) == 50
    assert flagged.strip().startswith("(")
