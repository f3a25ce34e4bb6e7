import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlaudit", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The built-in default audit, quick profile, run once for the session through the real CLI."""
    out = tmp_path_factory.mktemp("audit")
    proc = run_cli("audit", "--profile", "quick", "--out", str(out))
    return proc, out


@pytest.fixture(scope="session")
def quick_report_json(quick_report) -> dict:
    proc, out = quick_report
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((out / "report.json").read_text())
