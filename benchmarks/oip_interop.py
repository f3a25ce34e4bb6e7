"""Interoperability: mlaudit's HTTP target against a third-party Open Inference Protocol v2 server.

MLServer (Seldon) with its scikit-learn runtime serves a softmax regression (d = 20, 4 classes) fitted and
saved here with joblib (MLServer's format; the file is ours, and MLServer, not mlaudit, loads it). The model
settings declare the `predict_proba` output, which the HTTP target finds in the metadata and asks for by name.
The probabilities it reads back are compared with the local model's predict_proba on the same 500 rows.

MLServer is not a dependency of mlaudit (it pins its own FastAPI stack); install it in a separate environment:
  python3 -m venv /tmp/mlsvenv && /tmp/mlsvenv/bin/pip install mlserver mlserver-sklearn
Usage: python benchmarks/oip_interop.py --mlserver /tmp/mlsvenv/bin/mlserver
Ends with oip_interop_max_abs_diff=X (0 up to float64 rounding when the protocol is spoken alike).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    import httpx
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from mlaudit.targets.http import OipTarget

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mlserver", required=True, help="the mlserver executable of its own environment")
    args = ap.parse_args()
    x, y = make_classification(n_samples=1500, n_features=20, n_informative=10, n_classes=4, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(x[:1000], y[:1000])
    with tempfile.TemporaryDirectory(prefix="mlaudit-oip-") as tmp:
        folder = Path(tmp) / "softmax"
        folder.mkdir()
        joblib.dump(model, folder / "model.joblib")
        settings = {
            "name": "softmax",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 20]}],
            "outputs": [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, 4]}],
        }
        (folder / "model-settings.json").write_text(json.dumps(settings))
        http, grpc, metrics = free_port(), free_port(), free_port()
        server = {"http_port": http, "grpc_port": grpc, "metrics_port": metrics, "parallel_workers": 0}
        (Path(tmp) / "settings.json").write_text(json.dumps(server))
        url = f"http://127.0.0.1:{http}"
        proc = subprocess.Popen([args.mlserver, "start", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/v2/models/softmax/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                raise SystemExit("MLServer did not become ready in 120 s")
            t0 = time.perf_counter()
            target = OipTarget(url, "softmax")
            served = target.probabilities(x[1000:])
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    local = model.predict_proba(x[1000:])
    diff = float(np.abs(served - local).max())
    same = bool((served.argmax(1) == local.argmax(1)).all())
    what = f"granularity {target.granularity}, {target.num_classes} classes"
    print(f"MLServer {url}: {what}, {len(local)} rows in {wall:.2f} s")
    print(f"labels identical: {same}; requests: {target.requests}")
    print(f"oip_interop_max_abs_diff={diff:.3g}")


if __name__ == "__main__":
    main()
