"""The main job end to end through the real CLI, on the built-in default (real Fashion-MNIST when the
Debian package is installed, else scikit-learn's digits)."""

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.models import MLP
from mlaudit.report.json import validate

from .conftest import run_cli


def test_default_audit_report(quick_report, quick_report_json):
    proc, out = quick_report
    assert "report: " in proc.stdout and (out / "report.html").exists()
    doc = quick_report_json
    validate(doc)
    assert doc["target"]["kind"] == "default" and doc["threat_model"]["access"] == "probabilities"
    parts = doc["data"]["splits"]["private"]["parts"]
    assert not set(parts["members"]["indices"]) & set(parts["nonmembers"]["indices"])
    attacks = ("loss", "base-reference", "lira", "lira-offline", "rmia", "rmia-offline")
    expected = {"file-scan", "backdoor-detect", "backdoor-demo"} | {i for a in attacks for i in (a, f"{a}-control")}
    if doc["data"]["dataset"] == "fashion-mnist":  # image data: the security jobs run (digits are tabular here)
        expected |= {"evasion", "backdoor-scan", "poisoning-demo"}
    assert {f["id"] for f in doc["findings"]} == expected
    detect = next(f for f in doc["findings"] if f["id"] == "backdoor-detect")
    assert detect["severity"] == "info"  # the honestly fine-tuned default model carries no trap signatures
    demo = next(f for f in doc["findings"] if f["id"] == "backdoor-demo")
    assert demo["metrics"]["exact_single_captures"]["value"] >= 10
    assert demo["artifacts"][0]["kind"] == "image_grid"
    scan = next(f for f in doc["findings"] if f["id"] == "file-scan")
    assert scan["metrics"]["files"]["value"] == 2 and scan["severity"] == "info"  # the two cached safetensors


def test_default_audit_security_sections(quick_report_json):
    """Evasion, poisoning and the backdoor scan on the default's fine-tuned MLP (Fashion-MNIST only)."""
    f = {x["id"]: x for x in quick_report_json["findings"]}
    if "evasion" not in f:
        pytest.skip("the security jobs need image data (dataset-fashion-mnist)")
    ev = f["evasion"]["metrics"]
    assert ev["robust_accuracy_standard"]["value"] <= ev["clean_accuracy"]["value"]
    assert ev["white_box_success"]["value"] >= 0.8  # an undefended MLP at Linf 0.1
    for k in ("transfer_surrogate-pgd", "transfer_base-feature-disruption"):
        m = ev[k]
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    kinds = {a["kind"] for a in f["evasion"]["artifacts"]}
    assert {"curve", "table", "image_grid"} <= kinds
    assert f["evasion"]["severity"] in ("medium", "high")  # probabilities: Square and transfer count
    po = f["poisoning-demo"]["metrics"]
    assert po["badnets_asr"]["value"] >= 0.9 and po["badnets_asr"]["ci_low"] is not None
    assert abs(po["badnets_clean_accuracy"]["value"] - po["clean_model_accuracy"]["value"]) <= 0.05
    assert f["backdoor-scan"]["metrics"]["max_anomaly_index"]["value"] >= 0


def test_default_audit_finds_membership_leak_and_chance_on_control(quick_report_json):
    """Members vs non-members of the fine-tuned model: AUC above 0.5 + 4 sigma. Control (two disjoint
    non-member sets): AUC within 0.5 +- 4 sigma, sigma the Mann-Whitney null standard deviation
    sqrt((n1 + n2 + 1) / (12 n1 n2)); a false alarm at 4 sigma has probability about 6e-5."""
    f = {x["id"]: x["metrics"] for x in quick_report_json["findings"]}
    for fid in [i for i in f if f[i].get("auc")]:
        m = f[fid]
        sigma = mann_whitney_null_sigma(int(m["n_members"]["value"]), int(m["n_nonmembers"]["value"]))
        assert m["auc_null_sigma"]["value"] == sigma
        if fid.endswith("-control"):
            assert abs(m["auc"]["value"] - 0.5) < 4 * sigma, fid
        else:
            assert m["auc"]["value"] > 0.5 + 4 * sigma, fid
        for k in ("tpr_at_0.001_fpr", "tpr_at_0.01_fpr"):
            assert m[k]["ci_low"] <= m[k]["value"] <= m[k]["ci_high"]


def test_rerun_resumes_from_checkpoints(quick_report, quick_report_json, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(quick_report[1], out)  # a copy: another worker may be reading the shared report
    proc = run_cli("audit", "--profile", "quick", "--out", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    again = json.loads((out / "report.json").read_text())
    assert [f["metrics"] for f in again["findings"]] == [f["metrics"] for f in quick_report_json["findings"]]
    assert [f["duration_s"] for f in again["findings"]] == [f["duration_s"] for f in quick_report_json["findings"]]


def test_audit_of_own_safetensors_model(tmp_path):
    from mlaudit.models import TrainConfig, train

    rng = np.random.default_rng(0)
    data = {
        p: (rng.normal(size=(40, 16)).astype(np.float32), rng.integers(0, 3, 40)) for p in ("members", "nonmembers")
    }
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(in_features=16, num_classes=3, hidden=(8,))
    # trained on the members (the audit refuses data a model does not fit better than its majority label)
    train(
        model,
        *data["members"],
        TrainConfig(epochs=60, batch_size=40, lr=1e-2),
        generator=torch.Generator().manual_seed(0),
    )
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    for part, (x, y) in data.items():
        np.savez(tmp_path / f"{part}.npz", x=x, y=y)
    cfg = {
        "target": {
            "kind": "torch",
            "path": str(tmp_path / "model.safetensors"),
            "architecture": "mlp",
            "num_classes": 3,
            "input_shape": [16],
            "architecture_args": {"hidden": [8]},
        },
        "data": {
            "members": {"source": "npz", "path": str(tmp_path / "members.npz")},
            "nonmembers": {"source": "npz", "path": str(tmp_path / "nonmembers.npz")},
        },
        "threat_model": {"access": "probabilities", "query_budget": 100},
        "fail_on": "critical",
    }
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("audit", "--config", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    validate(doc)
    assert doc["target"]["files"] == [str(tmp_path / "model.safetensors")]
    assert {f["id"]: f["config"].get("queries") for f in doc["findings"]} == {
        "file-scan": None,
        "backdoor-detect": None,
        "loss": 80,
        "loss-control": 40,
    }


def test_list(capsys):
    from mlaudit.cli import main

    assert main(["list"]) == 0  # in this process: a process start costs 7 s of imports
    out = capsys.readouterr().out
    assert "loss" in out and "probabilities" in out and "evasion-blackbox" in out
