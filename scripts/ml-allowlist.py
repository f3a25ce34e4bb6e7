"""Derive the scanner's allow-list of machine-learning names (src/mlaudit/supplychain/scan/ml_classes.txt),
one name at a time instead of by the shape of a name (issue 21, class 2):

1. the classes each module of scikit-learn, scipy.sparse and pandas defines itself (`cls.__module__`
   is the module: a class a module merely imports, such as a standard-library socket or temporary
   directory re-exported, is not taken), and the rebuild helpers Cython generates for its extension
   types (`__pyx_unpickle_*`, `newObj`), outside testing, external, I/O, plotting, evaluation and
   parallel-execution modules;
2. the functions real pickles import (pandas 3 string columns are pyarrow arrays: pyarrow.lib
   rebuild functions too): every scikit-learn estimator (sklearn.utils.all_estimators)
   fitted on a small problem of its kind, pandas objects of every dtype, scipy.sparse matrices and
   arrays of every format and numpy random generators, each pickled here and loaded by CPython's
   unpickler with a recorder on find_class (the pickles are made here, so loading them is safe);
3. reviewed: a class whose own __init__, __new__, __setstate__, __reduce__ or __del__ mentions files,
   sockets, processes, imports or code evaluation is left out, and listed on stderr for a person to read.

Usage: python scripts/ml-allowlist.py > src/mlaudit/supplychain/scan/ml_classes.txt   (then review the diff)
"""

from __future__ import annotations

import importlib
import inspect
import io
import pickle
import pkgutil
import re
import sys
import warnings

import numpy as np

PACKAGES = ("sklearn", "scipy.sparse", "pandas")
DROP = re.compile(
    r"(\._?testing|\.tests?\b|\.conftest|\.externals|\.io\b|\.datasets|\.plotting|\.parallel|_joblib|"
    r"\.computation|\.util\._|\.api\.|_config|config_init|\.linalg|\.csgraph|\._build_utils|\.__check_build|"
    r"\._show_versions|\.parsers|\.interchange)"
)
SIDE_EFFECTS = re.compile(
    r"\b(open|socket|subprocess|Popen|system|exec|eval|compile|__import__|import_module|urlopen|requests|"
    r"tempfile|mkdtemp|mmap|unlink|rmtree|remove|Path|os\.|shutil|load|fetch|Thread|Process|Pool)\b"
)
# held back by the pattern and read by a person: the words are parameter documentation ("remove",
# metadata "requests"), the methods store parameters
REVIEWED = frozenset({
    "sklearn.ensemble._forest.ExtraTreesRegressor", "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeRegressor", "sklearn.utils._metadata_requests.MethodMetadataRequest",
})  # fmt: skip
FUNCTION_PREFIXES = ("sklearn.", "scipy.sparse.", "pandas.", "numpy.random.", "numpy.dtypes", "pyarrow.lib.")


def defined_classes() -> tuple[set[str], list[str]]:
    """(module.Class of every class a kept module defines itself, the classes left out for review)."""
    names: set[str] = set()
    held: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if DROP.search(info.name):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - optional dependencies missing: the module cannot be unpickled either
                continue
            for attr, obj in vars(module).items():
                if attr.startswith("__pyx_unpickle_") or attr == "newObj":  # Cython's own rebuild helpers
                    names.add(f"{info.name}.{attr}")
                elif inspect.isclass(obj) and obj.__module__ == info.name and obj.__qualname__ == attr:
                    full = f"{info.name}.{attr}"
                    (held.append(full) if _side_effects(obj) and full not in REVIEWED else names.add(full))
    return names, held


def _side_effects(cls: type) -> bool:
    for method in ("__init__", "__new__", "__setstate__", "__reduce__", "__reduce_ex__", "__del__"):
        fn = cls.__dict__.get(method)
        if fn is None:
            continue
        try:
            src = inspect.getsource(fn)
        except (OSError, TypeError):
            continue  # compiled (Cython): reviewed through the pickles they appear in
        if SIDE_EFFECTS.search(src.split(":", 1)[-1]):
            return True
    return False


def imported_by_pickles(objects: list[object]) -> set[str]:
    out: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            out.add(f"{module}.{name}")
            return super().find_class(module, name)

    for obj in objects:
        Recorder(io.BytesIO(pickle.dumps(obj, protocol=4))).load()
    return {n for n in out if n.startswith(FUNCTION_PREFIXES) and not DROP.search(n)}


def sklearn_objects() -> list[object]:
    from sklearn.datasets import make_classification, make_regression
    from sklearn.utils import all_estimators

    xc, yc = make_classification(120, 6, n_informative=4, n_classes=3, random_state=0)
    xr, yr = make_regression(120, 6, random_state=0)
    xp = np.abs(xc)
    out: list[object] = []
    for _, cls in all_estimators():
        for x, y in ((xc, yc), (xr, yr), (xp, yc), (xp, None)):
            try:
                est = cls()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(x, y) if y is not None else est.fit(x)
                out.append(est)
                break
            except Exception:  # noqa: BLE001 - estimators that need other inputs or parameters
                continue
    return out


def pandas_objects() -> list[object]:
    import pandas as pd

    idx = pd.date_range("2024-01-01", periods=4, tz="UTC")
    df = pd.DataFrame({
        "i": [1, 2, 3, 4], "f": [0.5, 1.5, 2.5, None], "s": list("abcd"), "c": pd.Categorical(list("abab")),
        "t": idx, "d": pd.to_timedelta([1, 2, 3, 4], unit="s"), "b": [True, False, True, False],
        "p": pd.period_range("2024-01", periods=4, freq="M"), "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "iv": pd.interval_range(0, 4), "o": pd.Series(["x", None, 1, 2.0], dtype=object),
    })  # fmt: skip
    return [
        df, df.set_index("t"), df["c"], pd.MultiIndex.from_product([[1, 2], ["a", "b"]]),
        pd.RangeIndex(5), pd.Index([1.5, 2.5]), pd.CategoricalIndex(list("ab")), pd.Timestamp("2024-01-01"),
        pd.Timedelta(1, "s"), pd.Period("2024-01", "M"), pd.Interval(0, 1), pd.NaT,
        pd.arrays.SparseArray([0, 0, 1]), pd.DataFrame({"x": pd.arrays.SparseArray([0.0, 1.0])}),
    ]  # fmt: skip


def scipy_objects() -> list[object]:
    from scipy import sparse

    m = sparse.random(5, 5, density=0.4, random_state=0)
    out: list[object] = []
    for fmt in ("csr", "csc", "coo", "lil", "dok", "bsr", "dia"):
        out += [m.asformat(fmt), sparse.csr_array(m).asformat(fmt)]
    return out


def numpy_objects() -> list[object]:
    dtypes = [np.dtype(t) for t in ("f4", "f8", "i8", "u1", "?", "U3", "S2", "M8[s]", "m8[s]", "c16", "O")]
    gens: list[object] = [np.random.default_rng(0), np.random.RandomState(0), np.random.MT19937(0)]
    bits = (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)
    gens += [np.random.Generator(b(0)) for b in bits]
    return [*dtypes, *gens]


def main() -> None:
    classes, held = defined_classes()
    seen = imported_by_pickles(sklearn_objects() + pandas_objects() + scipy_objects() + numpy_objects())
    versions = {m: importlib.import_module(m).__version__ for m in ("sklearn", "pandas", "scipy", "numpy")}
    stamp = ", ".join(f"{k} {v}" for k, v in versions.items())
    sys.stdout.write(f"# scripts/ml-allowlist.py, {stamp}: one name a line\n")
    sys.stdout.writelines(f"{n}\n" for n in sorted((classes | seen) - set(held)))
    sys.stderr.write(f"{len(classes)} classes defined, {len(seen)} names seen in pickles; held back for review:\n")
    sys.stderr.writelines(f"  {n}\n" for n in sorted(held))


if __name__ == "__main__":
    main()
