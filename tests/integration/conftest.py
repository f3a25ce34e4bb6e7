import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlaudit", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def user_script(script: Path, out: Path, *, timeout: int = 300) -> Path:
    """Run a fixture's user-style script (train.py, export_onnx.py) on the folder OUT, as the user would."""
    subprocess.run([sys.executable, str(script), str(out)], check=True, timeout=timeout)
    return out


def audit_config(text: str, folder: Path) -> int:
    """Write `text` as FOLDER/audit.yaml and audit it through the CLI's main, into FOLDER/r; the exit code."""
    from mlaudit.cli import main

    (folder / "audit.yaml").write_text(text)
    return main(["audit", "--config", str(folder / "audit.yaml"), "--out", str(folder / "r")])


def read_report(out: Path) -> tuple[dict, dict]:
    """report.json under OUT, and its findings by id."""
    report = json.loads((out / "report.json").read_text())
    return report, {f["id"]: f for f in report["findings"]}


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory, worker_id) -> tuple[subprocess.CompletedProcess, Path]:
    """The built-in default audit, quick profile, run once per test run through the real CLI. Under
    pytest-xdist the workers share it (the first runs it under a file lock, the others read its result),
    so two files that need it do not run two audits side by side on 2 cores."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base  # the run's folder, shared by its workers
    out, done = root / "quick-audit", root / "quick-audit.json"
    with FileLock(str(root / "quick-audit.lock")):
        if not done.is_file():
            proc = run_cli("audit", "--profile", "quick", "--out", str(out))
            done.write_text(
                json.dumps({"args": proc.args, "rc": proc.returncode, "out": proc.stdout, "err": proc.stderr})
            )
    d = json.loads(done.read_text())
    return subprocess.CompletedProcess(d["args"], d["rc"], d["out"], d["err"]), out


@pytest.fixture(scope="session")
def quick_report_json(quick_report) -> dict:
    proc, out = quick_report
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((out / "report.json").read_text())
