"""A labelled dataset and seeded member / non-member / population splits with recorded indices."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlaudit.errors import InputError


@dataclass(frozen=True)
class Dataset:
    """Examples `x` (array, or a list of strings for text) with integer labels `y`.

    Args:
        name: where the data came from (shown in the report).
        classes: class names; labels are indices into it.
        kind: "image" (N, C, H, W float in [0, 1]), "tabular" (N, D float) or "text" (list of str).
        sensitive: optional per-example sensitive attribute (for attribute inference).
    """

    x: Any
    y: np.ndarray
    classes: tuple[str, ...]
    name: str
    kind: str
    sensitive: np.ndarray | None = None
    sensitive_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    ids: np.ndarray | None = None  # stable example keys (indices into the original dataset), kept by subset()

    def __post_init__(self) -> None:
        n = len(self.x)
        if n == 0:
            raise InputError(f"dataset {self.name!r} is empty (0 examples); point the config at a file with examples")
        if len(self.y) != n:
            raise InputError(
                f"dataset {self.name!r} has {n} examples but {len(self.y)} labels; each example needs one label"
            )
        if self.kind not in ("image", "tabular", "text"):
            raise InputError(f"dataset kind must be image, tabular or text, got {self.kind!r}")
        y = np.asarray(self.y)
        if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
            raise InputError(
                f"dataset {self.name!r} has labels in [{y.min()}, {y.max()}] but only {len(self.classes)} "
                f"classes; labels must be 0..{len(self.classes) - 1}"
            )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, idx: np.ndarray, name: str | None = None) -> Dataset:
        idx = np.asarray(idx, dtype=np.int64)
        x = [self.x[i] for i in idx] if isinstance(self.x, list) else self.x[idx]
        sens = None if self.sensitive is None else self.sensitive[idx]
        ids = idx if self.ids is None else self.ids[idx]
        return Dataset(
            x,
            self.y[idx],
            self.classes,
            name or self.name,
            self.kind,
            sens,
            self.sensitive_name,
            {**self.meta, "parent": self.name},
            ids,
        )

    def check_num_classes(self, num_classes: int) -> None:
        """Raise InputError if the labels cannot belong to a model with `num_classes` outputs."""
        top = int(np.max(self.y))
        if top >= num_classes:
            raise InputError(
                f"dataset {self.name!r} has label {top} but the model has {num_classes} classes; "
                f"use a dataset whose labels are 0..{num_classes - 1} or set target.num_classes to {top + 1}"
            )


@dataclass(frozen=True)
class Split:
    """Disjoint parts of one dataset, drawn with a seed; indices refer to the parent dataset."""

    parent: str
    seed: int
    indices: dict[str, np.ndarray]

    def part(self, data: Dataset, name: str) -> Dataset:
        return data.subset(self.indices[name], name=f"{data.name}:{name}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"parent": self.parent, "seed": self.seed, "parts": {}}
        for name, idx in self.indices.items():
            digest = hashlib.sha256(np.asarray(idx, np.int64).tobytes()).hexdigest()
            out["parts"][name] = {"size": int(len(idx)), "sha256": digest, "indices": idx.tolist()}
        return out


def split(data: Dataset, sizes: dict[str, int], *, seed: int, pool: np.ndarray | None = None) -> Split:
    """Draw disjoint parts of the given sizes from `pool` (default: all examples), seeded.

    Raises InputError if the pool is too small for the parts asked for.
    """
    pool = np.arange(len(data)) if pool is None else np.asarray(pool, np.int64)
    need = sum(sizes.values())
    if need > pool.size:
        raise InputError(
            f"dataset {data.name!r} has {pool.size} examples available but the split needs {need} "
            f"({sizes}); use smaller sizes or a larger dataset"
        )
    perm = np.random.default_rng(seed).permutation(pool)
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = np.sort(perm[start : start + size])
        start += size
    return Split(data.name, seed, out)
