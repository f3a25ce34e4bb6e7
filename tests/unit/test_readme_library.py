"""The README's library example runs as written (in a fresh interpreter) and prints a severity and an AUC."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_library_example_runs_as_written(tmp_path):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Library") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    script = tmp_path / "example.py"
    script.write_text(code.group(1), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    severity, auc = out.stdout.split()
    assert severity in {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"} and 0.0 <= float(auc) <= 1.0
