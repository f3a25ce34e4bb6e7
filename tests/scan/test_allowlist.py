"""Issue 21, class 2: the allow-list of machine-learning names is explicit (supplychain/scan/ml_classes.txt,
derived by scripts/ml-allowlist.py), not "any CamelCase name under an ML package".

Both ways, each variant built here:
- a class that scikit-learn, scipy or pandas modules merely re-export (a standard-library class, an
  I/O reader, a testing helper: found by walking the modules for attributes defined elsewhere), named
  through the ML module in a pickle, is an unknown import (the old rule passed every CamelCase one);
- pickles of real fitted objects, with parameters off their defaults (kernels, losses, pipelines,
  pandas frames of every dtype, sparse matrices), stay clean: every import is on the list.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import random
import warnings

import numpy as np
import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths
from mlaudit.supplychain.scan.policy import ML_CLASSES, classify


def _reexports() -> list[tuple[str, str]]:
    """(ML module, class name) for classes those modules hold but do not define, CamelCase names only."""
    out = []
    for package in ("sklearn", "pandas", "scipy.sparse"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if ".tests" in info.name or "conftest" in info.name:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - optional dependencies
                continue
            for attr, obj in vars(module).items():
                if inspect.isclass(obj) and attr[:1].isupper() and not obj.__module__.startswith(package.split(".")[0]):
                    out.append((info.name, attr))
    return sorted(set(out))


@pytest.fixture(scope="module")
def reexports() -> list[tuple[str, str]]:
    return _reexports()  # imports every module of the three packages: once, and only for these tests


def test_re_exports_are_found_and_none_is_on_the_list(reexports):
    """The walk finds standard-library classes re-exported by ML modules (what the old rule passed)."""
    assert len(reexports) > 50, len(reexports)
    stdlib = [(m, n) for m, n in reexports if n in ("TemporaryDirectory", "Path", "Thread", "Popen", "BytesIO")]
    assert stdlib, reexports[:20]
    assert not [f"{m}.{n}" for m, n in reexports if f"{m}.{n}" in ML_CLASSES]


@pytest.mark.parametrize("seed", range(10))
def test_a_re_exported_class_in_a_pickle_is_flagged(tmp_path, seed, reexports):
    """Per seed, 5 re-exports drawn at random, each as GLOBAL + REDUCE and as STACK_GLOBAL: 100 files."""
    rng = random.Random(seed)
    for k, (module, name) in enumerate(rng.sample(reexports, 5)):
        assert classify(module, name).severity >= Severity.MEDIUM, (module, name)
        m, n = module.encode(), name.encode()
        variants = [
            b"c" + m + b"\n" + n + b"\n(tR.",
            b"\x80\x04\x8c" + bytes([len(m)]) + m + b"\x8c" + bytes([len(n)]) + n + b"\x93)\x81.",
        ]
        for j, data in enumerate(variants):
            path = tmp_path / f"f{k}-{j}.pkl"
            path.write_bytes(data)
            (r,) = scan_paths([path])
            assert r.worst >= Severity.MEDIUM and any(i.trigger == f"{module}.{name}" for i in r.issues), r.to_dict()


def _fitted() -> list[object]:
    import pandas as pd
    from scipy import sparse
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import DotProduct, Matern, WhiteKernel
    from sklearn.linear_model import SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 4)), rng.integers(0, 3, 80)
    df = pd.DataFrame({"a": rng.normal(size=80), "b": pd.Categorical(rng.choice(list("xyz"), 80))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            GaussianProcessRegressor(Matern(nu=2.5) + WhiteKernel() + DotProduct()).fit(x[:30], x[:30, 0]),
            *[SGDClassifier(loss=loss).fit(x, y) for loss in ("hinge", "log_loss", "modified_huber", "perceptron")],
            HistGradientBoostingClassifier(max_iter=5).fit(x, y),
            RandomForestRegressor(3, criterion="absolute_error").fit(x, x[:, 0]),
            KNeighborsClassifier(algorithm="ball_tree").fit(x, y),
            ColumnTransformer([("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(), ["b"])]).fit(df),
            make_pipeline(StandardScaler(), SGDClassifier()).fit(x, y),
            df, df.describe(), sparse.csr_matrix(x), pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"])),
        ]  # fmt: skip


def test_real_fitted_objects_off_their_defaults_stay_clean(tmp_path):
    for i, obj in enumerate(_fitted()):
        path = tmp_path / f"obj{i}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=4))
        (r,) = scan_paths([path])
        assert r.error is None and r.worst < Severity.MEDIUM, (type(obj).__name__, [i.to_dict() for i in r.issues])
