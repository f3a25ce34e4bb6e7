"""Speed and memory benchmark: scan one >= 1 GB PyTorch state_dict with mlaudit, picklescan and modelscan.

Two measurements per scanner, each in a fresh subprocess, best of `--repeat`:
- scan: the scanner's Python API on the file, timed inside the process after its imports and one
  warm-up scan, best of 30 (throughput = file size / scan time: the scanning work itself);
- cli: the scanner's command line, wall time from spawn to exit (start-up included, as users see it).
Peak memory is the worker's maximum resident set size (os.wait4). The file is written by a separate
process so that no child inherits its tensors. Ends with throughput_ratio_vs_picklescan=X (scan).

Usage: python benchmarks/scan_speed.py [--gb 1.0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = {"mlaudit": ["scan", "{}"], "picklescan": ["-p", "{}"], "modelscan": ["-p", "{}"]}


def make_state_dict(path: str, gb: float) -> None:
    import torch

    n_tensors = 16
    per = int(gb * (1 << 30) / 4 / n_tensors) + 1
    state = {f"layer{i}.weight": torch.zeros(per) for i in range(n_tensors)}
    state["layer0.bias"] = torch.ones(10)
    torch.save(state, path)


def worker(tool: str, path: str) -> None:
    """Import the scanner, then time one API scan of `path`; print JSON."""
    if tool == "mlaudit":
        from mlaudit.supplychain.scan import scan_paths

        def scan() -> bool:
            (r,) = scan_paths([path])
            return r.error is None and not r.issues
    elif tool == "picklescan":
        from picklescan.scanner import scan_file_path

        def scan() -> bool:
            return scan_file_path(path).issues_count == 0
    else:
        from modelscan.modelscan import ModelScan

        def scan() -> bool:
            return not ModelScan().scan(path)["issues"]

    clean = scan()  # warm-up: lazy imports and the page cache, for every scanner alike
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        scan()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": min(times), "clean": clean}))


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    with tempfile.TemporaryDirectory(prefix="mlaudit-speed-") as tmp:
        path = str(Path(tmp) / "big_state_dict.pt")
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import scan_speed; scan_speed.make_state_dict({path!r}, {args.gb})",
            ],
            check=True,
        )
        size_mb = os.path.getsize(path) / 1e6
        print(f"file: {Path(path).name}, {size_mb:.0f} MB (PyTorch zip state_dict, 17 tensors)")
        best: dict[str, float] = {}
        for tool, argv in CLI.items():
            exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
            if exe is None:
                print(f"{tool:<11} not installed (pip install -e .[bench])")
                continue
            scans = [run([sys.executable, __file__, "--worker", tool, path]) for _ in range(args.repeat)]
            docs = [json.loads(s[2]) for s in scans]
            scan_s = min(d["seconds"] for d in docs)
            peak = max(s[1] for s in scans)
            cli_s = min(run([str(exe)] + [a.format(path) for a in argv])[0] for _ in range(args.repeat))
            best[tool] = scan_s
            print(
                f"{tool:<11} scan {scan_s * 1000:8.1f} ms  {size_mb / scan_s:10.0f} MB/s   cli {cli_s:5.2f} s "
                f"{size_mb / cli_s:7.0f} MB/s   peak memory {peak:5.0f} MB   clean={docs[0]['clean']}"
            )
            if tool == "mlaudit":
                print(f"mlaudit_peak_memory_mb={peak:.0f}")
    if "mlaudit" in best and "picklescan" in best:
        print(f"throughput_ratio_vs_picklescan={best['picklescan'] / best['mlaudit']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
