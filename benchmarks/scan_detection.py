"""Detection benchmark: mlaudit, picklescan, modelscan and fickling on the same payload corpus.

Each scanner runs through its own command line, as users run it, on every case of
tests/corpus/payloads.py (built fresh in a temporary folder, never loaded). A case counts as detected
when the scanner exits non-zero: flagged (1) or, for files it cannot parse, an error (2 or 3), which
a CI gate that checks "!= 0" would also stop on. mlaudit must detect every case.

Usage: python benchmarks/scan_detection.py   (pip install -e .[bench] installs the peers)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.corpus.payloads import CASES  # noqa: E402

BIN = Path(sys.executable).parent


def _cmd(tool: str, path: Path) -> list[str] | None:
    exe = str(BIN / tool) if (BIN / tool).exists() else shutil.which(tool)
    if exe is None:
        return None
    return {
        "mlaudit": [exe, "scan", str(path)],
        "picklescan": [exe, "-p", str(path)],
        "modelscan": [exe, "-p", str(path)],
        "fickling": [exe, "--check-safety", str(path)],
    }[tool]


def run(tool: str, path: Path) -> str:
    """'flag' (exit 1), 'error' (other non-zero), 'miss' (exit 0) or 'n/a' (tool not installed)."""
    files = [path] if tool != "fickling" or path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    verdicts = []
    for f in files:
        cmd = _cmd(tool, f)
        if cmd is None:
            return "n/a"
        rc = subprocess.run(cmd, capture_output=True, text=True, timeout=300).returncode
        verdicts.append("miss" if rc == 0 else "flag" if rc == 1 else "error")
    return "flag" if "flag" in verdicts else "error" if "error" in verdicts else "miss"


def main() -> int:
    tools = ["mlaudit", "picklescan", "modelscan", "fickling"]
    with tempfile.TemporaryDirectory(prefix="mlaudit-corpus-") as tmp:
        paths = []
        for case in CASES:
            d = Path(tmp) / case.name
            d.mkdir()
            paths.append(case.build(d))
        with ThreadPoolExecutor(max_workers=2) as pool:
            table = {t: list(pool.map(lambda p, t=t: run(t, p), paths)) for t in tools}
    print(f"{'case':<24} {'technique':<46} " + " ".join(f"{t:>10}" for t in tools))
    for i, case in enumerate(CASES):
        print(f"{case.name:<24} {case.technique[:46]:<46} " + " ".join(f"{table[t][i]:>10}" for t in tools))
    n = len(CASES)
    print()
    for t in tools:
        flagged = table[t].count("flag")
        errors = table[t].count("error")
        print(
            f"{t:<11} flagged {flagged:>3}/{n}  errors {errors:>3}  missed {table[t].count('miss'):>3}"
            f"  (detected = flagged + errors: {flagged + errors}/{n})"
        )
    detected = sum(v in ("flag",) for v in table["mlaudit"])
    print(f"mlaudit_detected={detected}/{n}")
    return 0 if detected == n else 1


if __name__ == "__main__":
    sys.exit(main())
