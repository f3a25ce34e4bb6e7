"""Readers for users' own data: IDX, CSV / Parquet, .npz (never pickled objects), image folders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def read_frame(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table as pandas reads it (no encoding yet)."""
    import pandas as pd

    p = existing(path, "table")
    if not p.is_file():
        raise InputError(f"table path {str(p)!r} is a folder; give a .csv or .parquet file")
    try:
        df = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p)
    except Exception as e:  # pandas raises many types for malformed files
        raise InputError(f"cannot read table {str(p)!r}: {e}; use a CSV with a header or a Parquet file") from None
    if len(df) == 0:
        raise InputError(f"table {str(p)!r} has no rows; point the config at a table with data")
    return df


def table_encoding(frames: list[pd.DataFrame], *, label: str, text: str | None = None) -> tuple[list[str], list[str]]:
    """(columns, classes) one encoding for every table of an audit, so that members, non-members and
    population are encoded alike: one-hot columns over the union of their categories (raw values, never
    scaled per file), and classes: 0..max when the labels are integers (the label IS the class index),
    else their sorted distinct values."""
    import pandas as pd

    columns: list[str] = []
    labels: list[Any] = []
    for df in frames:
        if label not in df.columns:
            raise InputError(
                f"label column {label!r} not in table; its columns are: {', '.join(map(str, df.columns))}; "
                "set data.label_column"
            )
        labels += df[label].dropna().tolist()
        if text is None:
            feats = pd.get_dummies(df.drop(columns=[label]).dropna(), dtype=np.float32)
            columns += [str(c) for c in feats.columns if str(c) not in columns]
    keys = [_label_key(v) for v in labels]
    if not keys:
        raise InputError(f"label column {label!r} holds no labels (all empty); fill it in")
    ints = [k for k in keys if isinstance(k, int)]
    if len(ints) == len(keys):
        if min(ints) < 0:
            raise InputError(
                f"label column {label!r} has a negative label {min(ints)}; labels are class indices 0..K-1"
            )
        classes = [str(i) for i in range(max(ints) + 1)]
    else:
        classes = sorted({str(k) for k in keys})
    return columns, classes


def _label_key(v: Any) -> int | str:
    """An integral number as an int (1, 1.0, numpy ints alike), anything else as text."""
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return int(v)
    return str(v)


def read_table(
    path: str | Path,
    *,
    label: str,
    sensitive: str | None = None,
    columns: list[str] | None = None,
    classes: list[str] | None = None,
    text: str | None = None,
) -> Dataset:
    """Read a CSV or Parquet table: numeric / categorical features (raw values), one label column, or
    with `text` a text column. With `columns` and `classes` (what a model was fitted on, or the audit's
    joint table_encoding), encoded as those say; alone, as this file's own encoding."""
    df = read_frame(path)
    name = Path(path).name
    if columns is None or classes is None:
        columns, classes = table_encoding([df], label=label, text=text)
    if text is not None:
        return text_table(df, text=text, label=label, name=name, classes=classes)
    return model_encoding(df, label=label, sensitive=sensitive, name=name, columns=columns, classes=classes)


def text_table(df: pd.DataFrame, *, text: str, label: str, name: str, classes: list[str]) -> Dataset:
    """A table of documents: the `text` column, labels indexed by `classes`."""
    for col in (text, label):
        if col not in df.columns:
            raise InputError(f"column {col!r} not in table {name!r}; columns are: {', '.join(map(str, df.columns))}")
    df = df.dropna(subset=[text, label])
    y = _indexed_labels(df[label], classes, name)
    return Dataset([str(t) for t in df[text]], y, tuple(classes), name, "text")


def _indexed_labels(values: Any, classes: list[str], name: str) -> np.ndarray:
    pos = {c: i for i, c in enumerate(classes)}
    keys = [str(_label_key(v)) for v in values]
    bad = sorted(set(keys) - set(pos))
    if bad:
        raise InputError(f"table {name!r} has labels the model does not know: {', '.join(bad[:5])}; it knows {classes}")
    return np.array([pos[k] for k in keys], dtype=np.int64)


def _free_text(df: pd.DataFrame, label: str, name: str) -> None:
    """Refuse a column of free text: one-hot encoding it would give one column per document."""
    import pandas as pd

    for c in df.columns:
        if c == label or pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            continue
        distinct = df[c].nunique()
        if distinct > 50 and distinct > 0.5 * len(df):
            raise InputError(
                f"column {c!r} of table {name!r} looks like free text ({distinct} distinct values in {len(df)} rows); "
                f"for a text model set text_field: {c} on this data source, otherwise drop the column"
            )


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
    if len(df) == 0:
        raise InputError(f"table {name!r} has no row without a missing value; fill or drop the empty cells")
    _free_text(df, label, name)
    feats = pd.get_dummies(df.drop(columns=[label]), dtype=np.float32)
    categorical = [str(c) for c in df.columns if c != label and not pd.api.types.is_numeric_dtype(df[c])]
    unseen = [c for c in feats.columns if c not in columns and any(str(c).startswith(f"{k}_") for k in categorical)]
    if unseen:
        raise InputError(f"table {name!r} has categories the model never saw: {', '.join(unseen[:5])}; drop those rows")
    missing = [c for c in columns if c not in feats.columns and not any(c.startswith(f"{k}_") for k in categorical)]
    if missing:
        raise InputError(f"table {name!r} lacks columns the model was fitted on: {', '.join(missing[:5])}")
    feats.columns = [str(c) for c in feats.columns]
    x = feats.reindex(columns=columns, fill_value=0.0).to_numpy(np.float32)
    y = _indexed_labels(df[label], classes, name)
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
    """A built-in table, split after reading (so scaled once for every part): one-hot categorical
    columns, standardise numeric ones; labels become class indices. Users' tables go through
    read_table / model_encoding, which never scale."""
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


def read_jsonl(path: str | Path, *, text_field: str = "text", label_field: str | None = "label") -> Dataset:
    """Text examples from JSON Lines, one object per line with a text and a label field. Labels that are
    all integers are class indices 0..max; otherwise the sorted distinct values are the classes.
    `label_field` None: a language model's documents (no labels; one class, "document")."""
    p = existing(path, "JSON Lines file")
    if not p.is_file():
        raise InputError(f"JSON Lines path {str(p)!r} is a folder; give a .jsonl file")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(
            f"{str(p)!r} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
            "give JSON Lines saved as UTF-8"
        ) from None
    texts, labels = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{str(p)!r} line {n} is not JSON ({e.msg}); write one object per line") from None
        if not isinstance(row, dict) or text_field not in row or (label_field is not None and label_field not in row):
            keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
            what = repr(text_field) if label_field is None else f"{text_field!r} or {label_field!r}"
            fix = "set data.text_field" if label_field is None else "set data.text_field / data.label_column"
            raise InputError(f"{str(p)!r} line {n} lacks {what} (it has {keys}); {fix}")
        if not isinstance(row[text_field], str):
            raise InputError(f"{str(p)!r} line {n}: {text_field!r} is a {type(row[text_field]).__name__}, not text")
        texts.append(row[text_field])
        labels.append(0 if label_field is None else row[label_field])
    if label_field is None:
        return documents(texts, p.name)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        y = np.asarray(labels, dtype=np.int64)
        if y.size and y.min() < 0:
            raise InputError(f"{str(p)!r} has a negative label {int(y.min())}; labels are class indices 0..K-1")
        classes = tuple(str(i) for i in range(int(y.max()) + 1)) if y.size else ()
    else:
        classes = tuple(sorted({str(v) for v in labels}))
        y = np.asarray([classes.index(str(v)) for v in labels], dtype=np.int64)
    return Dataset(texts, y, classes, p.name, "text")


def documents(texts: list[str], name: str) -> Dataset:
    """A language model's documents: text without labels (one class, "document")."""
    return Dataset(list(texts), np.zeros(len(texts), dtype=np.int64), ("document",), name, "text")


def read_text(path: str | Path) -> Dataset:
    """Documents from plain text: a file holds one document per non-empty line; a folder, one document
    per .txt file in it (sorted by name). UTF-8 only."""
    p = existing(path, "text file or folder")
    files = sorted(p.glob("*.txt")) if p.is_dir() else [p]
    if not files:
        raise InputError(f"{str(p)!r} holds no .txt files; give a text file (a document per line) or a folder of .txt")
    texts = []
    for f in files:
        try:
            raw = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(
                f"{str(f)!r} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
            ) from None
        if p.is_dir():
            texts += [raw] if raw.strip() else []
        else:
            texts += [line for line in raw.splitlines() if line.strip()]
    return documents(texts, p.name)


def read_npz(path: str | Path, *, x_key: str = "x", y_key: str = "y") -> Dataset:
    """Read arrays from an .npz with allow_pickle=False (object arrays are refused, never unpickled).
    x: (N, C, H, W) images (integer pixels 0..255 are scaled to [0, 1], as IDX and image folders are),
    (N, D) features, or (N,) strings (documents); y: (N,) integer class indices (integral floats pass,
    others are refused rather than truncated)."""
    import zipfile

    p = existing(path, ".npz file")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in (x_key, y_key) if k not in z.files]
            if missing:
                raise InputError(f"{str(p)!r} has arrays {z.files} but not {missing}; set data.x_key / data.y_key")
            x, y = z[x_key], z[y_key]
    except ValueError as e:  # numpy raises ValueError for object arrays when allow_pickle=False
        raise InputError(f"{str(p)!r} holds pickled object arrays or is not an .npz ({e}); save plain arrays") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise InputError(
            f"cannot read {str(p)!r} as .npz ({type(e).__name__}: {e}); the file is truncated or not npz"
        ) from None
    y = _class_indices(y, p.name)
    if x.dtype.kind in "US":
        if x.ndim != 1:
            raise InputError(f"{str(p)!r}: text x must be one string per example, shape (N,), got {x.shape}")
        return Dataset([str(t) for t in x], y, _classes(y), p.name, "text")
    if x.dtype.kind not in "biuf" or x.ndim not in (2, 4):
        raise InputError(
            f"{str(p)!r}: {x_key!r} is {x.dtype} of shape {x.shape}; give (N, C, H, W) images, (N, D) features "
            "or (N,) strings"
        )
    kind = "image" if x.ndim == 4 else "tabular"
    scale = 255.0 if kind == "image" and x.dtype.kind in "biu" else 1.0
    if scale != 1.0 and (x.min() < 0 or x.max() > 255):
        raise InputError(f"{str(p)!r}: integer images must be pixels 0..255, got [{x.min()}, {x.max()}]")
    x = x.astype(np.float32) / np.float32(scale)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = int(bad.reshape(len(x), -1).any(1).sum())
        raise InputError(f"{str(p)!r}: {rows} of {len(x)} examples hold NaN or infinity; drop or fix them")
    return Dataset(x, y, _classes(y), p.name, kind, meta={"scaled_by": 1 / scale} if scale != 1.0 else {})


def _class_indices(y: np.ndarray, name: str) -> np.ndarray:
    if y.ndim != 1:
        raise InputError(f"{name!r}: labels must be one class index per example, shape (N,), got {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not (y == np.round(y)).all():
            odd = np.unique(y[~np.isfinite(y) | (y != np.round(y))])[:3].tolist()
            raise InputError(f"{name!r}: labels must be integer class indices, got {odd}; save y as integers")
    elif y.dtype.kind not in "biu":
        raise InputError(f"{name!r}: labels must be integer class indices, got dtype {y.dtype}; save y as integers")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise InputError(f"{name!r} has a negative label {int(y.min())}; labels are class indices 0..K-1")
    return y


def _classes(y: np.ndarray) -> tuple[str, ...]:
    return tuple(str(i) for i in range(int(y.max()) + 1)) if y.size else ()


COLOR_MODES = ("auto", "grayscale", "rgb")


def read_image_folder(path: str | Path, *, size: tuple[int, int] | None = None, color_mode: str = "auto") -> Dataset:
    """Read ROOT/<class name>/<image>; classes sorted by name, images scaled to [0, 1]. color_mode
    auto: one channel when every image is grayscale (PIL modes 1, L, I, F), else RGB."""
    from PIL import Image, UnidentifiedImageError

    if color_mode not in COLOR_MODES:
        raise InputError(f"unknown color_mode {color_mode!r}; use one of: {', '.join(COLOR_MODES)}")
    root = existing(path, "image folder")
    if not root.is_dir():
        raise InputError(f"image folder {str(root)!r} is a file; give the folder ROOT holding ROOT/<class>/<image>")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    images, ys = [], []
    for label, d in enumerate(class_dirs):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                try:
                    with Image.open(f) as raw:
                        raw.load()
                        images.append(raw.copy())
                except (UnidentifiedImageError, OSError) as e:
                    raise InputError(f"{str(f)!r} is not a readable image ({e}); remove it or replace it") from None
                ys.append(label)
    if not images:
        raise InputError(f"no images found under {str(root)!r}; expected ROOT/<class>/<file>.png")
    x = stack_images(images, color_mode, str(root), size=size)
    return Dataset(x, np.asarray(ys, np.int64), tuple(d.name for d in class_dirs), root.name, "image")


def stack_images(images: list[Any], color_mode: str, where: str, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """PIL images as one (N, C, H, W) float32 array in [0, 1]; color_mode auto: one channel when every
    image is grayscale (PIL modes 1, L, I, F), else RGB."""
    gray = color_mode == "grayscale" or (color_mode == "auto" and all(im.mode in ("1", "L", "I", "F") for im in images))
    xs = []
    for im in images:
        im = im.convert("L" if gray else "RGB")
        xs.append(np.asarray(im.resize(size) if size is not None else im, np.float32) / 255.0)
    shapes = {a.shape for a in xs}
    if len(shapes) > 1:
        raise InputError(f"images in {where!r} have different sizes {sorted(shapes)[:3]}; resize them to one size")
    x = np.stack(xs)
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # type: ignore[no-any-return]


def read_hf_disk(
    path: str | Path, *, split: str | None = None, text_field: str | None = None, label_field: str | None = "label",
    color_mode: str = "auto",
) -> Dataset:  # fmt: skip
    """A Hugging Face `datasets` folder written by `save_to_disk` (a Dataset, or a DatasetDict with
    `split` naming the part), read without the `datasets` library: its Arrow stream files with pyarrow
    and its feature types from dataset_info.json. Labels: a ClassLabel's names are the classes; integer
    labels are class indices; other labels, their sorted distinct values. Examples: the Image feature
    (decoded with Pillow, scaled to [0, 1]) or the text column (`text_field`, or the only string one)."""
    root = existing(path, "Hugging Face dataset folder")
    folder = _hf_split(root, split)
    state, info = (_hf_json(folder / name) for name in ("state.json", "dataset_info.json"))
    if state.get("_indices_data_files"):
        raise InputError(f"{str(folder)!r} holds an indices mapping; save it with save_to_disk after flatten_indices()")
    table = _hf_table(folder, state)
    raw = info.get("features")
    features: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if label_field is None:  # a language model's documents: the text column only
        column = text_field or "text"
        if column not in table.column_names or not all(isinstance(t, str) for t in table.column(column).to_pylist()):
            raise InputError(f"{str(folder)!r} has no text column {column!r} (it has {', '.join(table.column_names)}); "
                             "set data.text_field")  # fmt: skip
        return documents(table.column(column).to_pylist(), root.name)
    if label_field not in table.column_names:
        raise InputError(
            f"{str(folder)!r} has no column {label_field!r} (it has {', '.join(table.column_names)}); "
            "set data.label_column"
        )
    y, classes = _hf_labels(table.column(label_field).to_pylist(), features.get(label_field, {}), str(folder))
    images = [c for c in table.column_names if features.get(c, {}).get("_type") == "Image"]
    if images and text_field is None:
        x = _hf_images(table.column(images[0]).to_pylist(), color_mode, str(folder))
        return Dataset(x, y, classes, root.name, "image")
    strings = [c for c in table.column_names if c != label_field and features.get(c, {}).get("dtype") == "string"]
    field = text_field or (strings[0] if len(strings) == 1 else None)
    if field is None or field not in table.column_names:
        raise InputError(
            f"{str(folder)!r}: name the text column with data.text_field "
            f"(string columns: {', '.join(strings) or 'none'})"
        )
    texts = table.column(field).to_pylist()
    if not all(isinstance(t, str) for t in texts):
        raise InputError(f"{str(folder)!r}: column {field!r} is not text in every row")
    return Dataset(np.array(texts, dtype=object), y, classes, root.name, "text")


def _hf_split(root: Path, split: str | None) -> Path:
    """The folder of one Dataset: ROOT itself, or ROOT/<split> of a DatasetDict."""
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is a file; give the folder save_to_disk wrote")
    if not (root / "dataset_dict.json").is_file():
        if split is not None:
            raise InputError(f"{str(root)!r} is one Dataset, not a DatasetDict; remove data.split")
        return root
    splits = _hf_json(root / "dataset_dict.json").get("splits", [])
    if split is None or split not in splits:
        given = f"data.split {split!r} is not one of them" if split else "name one with data.split"
        raise InputError(f"{str(root)!r} is a DatasetDict with splits {', '.join(map(str, splits))}; {given}")
    return root / split


def _hf_json(p: Path) -> dict[str, Any]:
    hint = f"is {str(p.parent)!r} a folder written by save_to_disk?"
    return json_object(p, missing=f"{str(p.parent)!r} has no {p.name}; {hint}", hint=hint)


def json_object(p: Path, *, missing: str, hint: str) -> dict[str, Any]:
    """A JSON file that must hold an object (a model's config.json, a dataset's state.json) as a mapping;
    InputError `missing` when it is absent, else naming what is wrong with it, followed by `hint`."""
    if not p.is_file():
        raise InputError(missing)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{str(p)!r} is not JSON ({e}); {hint}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{str(p)!r} is not a JSON object; {hint}")
    return doc


def _hf_table(folder: Path, state: dict[str, Any]) -> Any:
    """The Arrow stream files state.json lists (names inside the folder only), as one table."""
    import pyarrow as pa

    files = [f.get("filename") for f in state.get("_data_files", []) if isinstance(f, dict)]
    names = [f for f in files if isinstance(f, str) and f and Path(f).name == f]
    if not names or len(names) != len(files):
        raise InputError(f"{str(folder)!r}: state.json lists no data files inside the folder ({files!r})")
    tables = []
    for name in names:
        try:
            with pa.memory_map(str(existing(folder / name, "data file"))) as src:
                tables.append(pa.ipc.open_stream(src).read_all())
        except pa.ArrowInvalid as e:
            raise InputError(f"{str(folder / name)!r} is not an Arrow stream ({e}); is it from save_to_disk?") from None
    return pa.concat_tables(tables)


def _hf_labels(values: list[Any], feature: dict[str, Any], where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if any(v is None for v in values):
        raise InputError(f"{where!r}: {sum(v is None for v in values)} rows have no label")
    names = feature.get("names") if feature.get("_type") == "ClassLabel" else None
    if names:
        y = np.asarray(values, np.int64)
        if y.min() < 0 or y.max() >= len(names):
            raise InputError(f"{where!r}: labels outside the ClassLabel's {len(names)} names (e.g. {int(y.min())})")
        return y, tuple(map(str, names))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        y = np.asarray(values, np.int64)
        if y.min() < 0:
            raise InputError(f"{where!r}: integer labels must be class indices >= 0, got {int(y.min())}")
        return y, tuple(str(i) for i in range(int(y.max()) + 1))
    classes = sorted({str(v) for v in values})
    return np.asarray([classes.index(str(v)) for v in values], np.int64), tuple(classes)


def _hf_images(cells: list[Any], color_mode: str, where: str) -> np.ndarray:
    """The Image feature's cells ({bytes, path}) decoded from their bytes (a path alone is refused:
    it points outside the folder)."""
    import io

    from PIL import Image, UnidentifiedImageError

    images = []
    for i, cell in enumerate(cells):
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if not data:
            raise InputError(f"{where!r}: image {i} has no bytes (only a path); save it with embedded images")
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                images.append(im.copy())
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"{where!r}: image {i} is not a readable image ({e})") from None
    return stack_images(images, color_mode, where)


LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")  # config.json architectures of causal language models


def is_causal_lm(path: Path) -> bool:
    """A GGUF file, an adapter whose base is a causal LM (task_type CAUSAL_LM), or a folder whose
    config names a causal-LM architecture."""
    if path.is_file():
        return path.suffix == ".gguf"
    if (path / "adapter_config.json").is_file():
        cfg = _json_or_empty(path / "adapter_config.json")
        return str(cfg.get("task_type", "")).upper() == "CAUSAL_LM"
    archs = _json_or_empty(path / "config.json").get("architectures")
    return isinstance(archs, list) and any(str(a).endswith(LM_SUFFIXES) for a in archs)


def _json_or_empty(p: Path) -> dict[str, Any]:
    try:
        return json_object(p, missing="", hint="")
    except InputError:
        return {}
