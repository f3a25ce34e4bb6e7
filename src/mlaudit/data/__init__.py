"""Datasets: real offline assets, users' own formats, and recorded membership splits."""

from mlaudit.data.assets import (
    BUILTIN,
    breast_cancer,
    cps1988,
    digits,
    fashion_mnist,
    fashion_mnist_available,
    gss_wages,
    load_builtin,
    rotten_tomatoes,
)
from mlaudit.data.dataset import Dataset, Split, split
from mlaudit.data.formats import images_from_idx, read_idx, read_image_folder, read_jsonl, read_npz, read_table

__all__ = [
    "BUILTIN",
    "Dataset",
    "Split",
    "breast_cancer",
    "cps1988",
    "gss_wages",
    "digits",
    "fashion_mnist",
    "fashion_mnist_available",
    "images_from_idx",
    "load_builtin",
    "read_idx",
    "read_image_folder",
    "read_jsonl",
    "read_npz",
    "read_table",
    "rotten_tomatoes",
    "split",
]
