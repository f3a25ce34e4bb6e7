"""Readers for users' own data: IDX, CSV / Parquet, .npz (never pickled objects), image folders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlaudit.data.dataset import Dataset
from mlaudit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

_IDX_DTYPES: dict[int, str | type] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def existing(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found: {str(p)!r}; check the path (relative paths start at the cwd)")
    return p


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzip-compressed or not."""
    p = existing(path, "IDX file")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InputError(f"cannot read IDX file {str(p)!r}: {e}; check it is a (gzipped) IDX file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError(f"{str(p)!r} is not an IDX file (bad magic number); expected MNIST-style IDX data")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise InputError(
            f"IDX file {str(p)!r} declares shape {dims} ({expected} bytes) but holds {len(raw) - offset}; "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)


def images_from_idx(images: str | Path, labels: str | Path, name: str | None = None) -> Dataset:
    x = read_idx(images)
    y = read_idx(labels).astype(np.int64)
    if x.ndim == 3:
        x = x[:, None]
    x = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
    classes = tuple(str(i) for i in range(int(y.max()) + 1)) if y.size else ()
    return Dataset(x, y, classes, name or Path(images).name, "image")


def read_table(
    path: str | Path,
    *,
    label: str,
    sensitive: str | None = None,
    columns: list[str] | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Read a CSV or Parquet table: numeric / categorical features, one label column. With `columns`
    and `classes` (what a model was fitted on), encoded as that model expects (model_encoding)."""
    import pandas as pd

    p = existing(path, "table")
    try:
        df = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p)
    except Exception as e:  # pandas raises many types for malformed files
        raise InputError(f"cannot read table {str(p)!r}: {e}; use a CSV with a header or a Parquet file") from None
    if columns is not None and classes is not None:
        return model_encoding(df, label=label, sensitive=sensitive, name=p.name, columns=columns, classes=classes)
    return table_to_dataset(df, label=label, sensitive=sensitive, name=p.name)


def model_encoding(
    df: pd.DataFrame, *, label: str, sensitive: str | None, name: str, columns: list[str], classes: list[str]
) -> Dataset:
    """The table as a fitted model saw its training table: raw values (no scaling), categorical columns
    one-hot as pandas.get_dummies names them ("<column>_<value>"), in the model's column order; labels
    and sensitive values indexed by the model's classes and dummy columns, so every file of an audit
    agrees. Refused: a model column the table lacks, a category the model never saw, an unknown label."""
    import pandas as pd

    if label not in df.columns:
        raise InputError(
            f"label column {label!r} not in table {name!r}; columns are: {', '.join(map(str, df.columns))}"
        )
    df = df.dropna()
    feats = pd.get_dummies(df.drop(columns=[label]), dtype=np.float32)
    categorical = [str(c) for c in df.columns if c != label and not pd.api.types.is_numeric_dtype(df[c])]
    unseen = [c for c in feats.columns if c not in columns and any(str(c).startswith(f"{k}_") for k in categorical)]
    if unseen:
        raise InputError(f"table {name!r} has categories the model never saw: {', '.join(unseen[:5])}; drop those rows")
    missing = [c for c in columns if c not in feats.columns and not any(c.startswith(f"{k}_") for k in categorical)]
    if missing:
        raise InputError(f"table {name!r} lacks columns the model was fitted on: {', '.join(missing[:5])}")
    x = feats.reindex(columns=columns, fill_value=0.0).to_numpy(np.float32)
    pos = {c: i for i, c in enumerate(classes)}
    bad = sorted({str(v) for v in df[label]} - set(pos))
    if bad:
        raise InputError(f"table {name!r} has labels the model does not know: {', '.join(bad[:5])}; it knows {classes}")
    y = np.array([pos[str(v)] for v in df[label]], dtype=np.int64)
    sens = None
    if sensitive is not None:
        values = sorted(c[len(sensitive) + 1 :] for c in columns if c.startswith(f"{sensitive}_"))
        if sensitive not in df.columns or not values:
            raise InputError(
                f"sensitive column {sensitive!r}: the table and the model's one-hot columns '{sensitive}_<value>' "
                f"must both have it; the model's columns are {', '.join(columns[:12])}"
            )
        odd = sorted({str(v) for v in df[sensitive]} - set(values))
        if odd:
            raise InputError(f"table {name!r} has values of {sensitive!r} the model never saw: {', '.join(odd[:5])}")
        sens = np.array([values.index(str(v)) for v in df[sensitive]], dtype=np.int64)
    return Dataset(x, y, tuple(classes), name, "tabular", sens, sensitive, {"features": list(columns)})


def table_to_dataset(df: pd.DataFrame, *, label: str, sensitive: str | None = None, name: str) -> Dataset:
    """One-hot categorical columns, standardise numeric ones; labels become class indices."""
    import pandas as pd

    if len(df) == 0:
        raise InputError(f"table {name!r} has no rows; point the config at a table with data")
    if label not in df.columns:
        raise InputError(
            f"label column {label!r} not in table {name!r}; columns are: {', '.join(map(str, df.columns))}"
        )
    df = df.dropna()
    codes, classes = pd.factorize(df[label], sort=True)
    sens = None
    if sensitive is not None:
        if sensitive not in df.columns:
            raise InputError(
                f"sensitive column {sensitive!r} not in table {name!r}; columns are: {', '.join(map(str, df.columns))}"
            )
        sens = pd.factorize(df[sensitive], sort=True)[0].astype(np.int64)
    feats = pd.get_dummies(df.drop(columns=[label]), dtype=np.float32)
    x = feats.to_numpy(np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return Dataset(
        x,
        codes.astype(np.int64),
        tuple(map(str, classes)),
        name,
        "tabular",
        sens,
        sensitive,
        {"features": list(map(str, feats.columns))},
    )


def read_jsonl(path: str | Path, *, text_field: str = "text", label_field: str = "label") -> Dataset:
    """Text examples from JSON Lines, one object per line with a text and a label field. Labels that are
    all integers are class indices 0..max; otherwise the sorted distinct values are the classes."""
    p = existing(path, "JSON Lines file")
    texts, labels = [], []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{str(p)!r} line {n} is not JSON ({e.msg}); write one object per line") from None
            if not isinstance(row, dict) or text_field not in row or label_field not in row:
                keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
                raise InputError(
                    f"{str(p)!r} line {n} lacks {text_field!r} or {label_field!r} (it has {keys}); "
                    "set data.text_field / data.label_column"
                )
            if not isinstance(row[text_field], str):
                raise InputError(f"{str(p)!r} line {n}: {text_field!r} is a {type(row[text_field]).__name__}, not text")
            texts.append(row[text_field])
            labels.append(row[label_field])
    if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        y = np.asarray(labels, dtype=np.int64)
        if y.size and y.min() < 0:
            raise InputError(f"{str(p)!r} has a negative label {int(y.min())}; labels are class indices 0..K-1")
        classes = tuple(str(i) for i in range(int(y.max()) + 1)) if y.size else ()
    else:
        classes = tuple(sorted({str(v) for v in labels}))
        y = np.asarray([classes.index(str(v)) for v in labels], dtype=np.int64)
    return Dataset(texts, y, classes, p.name, "text")


def read_npz(path: str | Path, *, x_key: str = "x", y_key: str = "y") -> Dataset:
    """Read arrays from an .npz with allow_pickle=False (object arrays are refused, never unpickled)."""
    p = existing(path, ".npz file")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in (x_key, y_key) if k not in z.files]
            if missing:
                raise InputError(f"{str(p)!r} has arrays {z.files} but not {missing}; set data.x_key / data.y_key")
            x, y = z[x_key], z[y_key].astype(np.int64)
    except ValueError as e:  # numpy raises ValueError for object arrays when allow_pickle=False
        raise InputError(f"{str(p)!r} holds pickled object arrays ({e}); save plain numeric arrays") from None
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read {str(p)!r} as .npz: {e}") from None
    kind = "image" if x.ndim == 4 else "tabular"
    x = x.astype(np.float32)
    classes = tuple(str(i) for i in range(int(y.max()) + 1)) if y.size else ()
    return Dataset(x, y, classes, p.name, kind)


def read_image_folder(path: str | Path, *, size: tuple[int, int] | None = None, grayscale: bool = False) -> Dataset:
    """Read ROOT/<class name>/<image>; classes sorted by name, images scaled to [0, 1]."""
    from PIL import Image

    root = existing(path, "image folder")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    xs, ys = [], []
    for label, d in enumerate(class_dirs):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(f) as raw:
                    im = raw.convert("L" if grayscale else "RGB")
                    if size is not None:
                        im = im.resize(size)
                    xs.append(np.asarray(im, np.float32) / 255.0)
                    ys.append(label)
    if not xs:
        raise InputError(f"no images found under {str(root)!r}; expected ROOT/<class>/<file>.png")
    shapes = {a.shape for a in xs}
    if len(shapes) > 1:
        raise InputError(f"images under {str(root)!r} have different sizes {sorted(shapes)[:3]}; pass size=(W, H)")
    x = np.stack(xs)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return Dataset(x, np.asarray(ys, np.int64), tuple(d.name for d in class_dirs), root.name, "image")
