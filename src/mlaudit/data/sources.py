"""A config's data sources as Datasets: one reader per source kind, and one encoding for every table
of an audit. Loaded once per process (the CLI's preflight and the audit share the result)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from mlaudit.config import DataConfig, DataSourceConfig, TargetConfig
from mlaudit.data.assets import load_builtin
from mlaudit.data.checks import check_disjoint
from mlaudit.data.dataset import Dataset
from mlaudit.data.formats import (
    images_from_idx,
    is_causal_lm,
    read_frame,
    read_hf_disk,
    read_image_folder,
    read_jsonl,
    read_npz,
    read_table,
    read_text,
    table_encoding,
)
from mlaudit.errors import InputError

Encoding = tuple[list[str], list[str]]  # (columns, classes) a table is encoded with


def load_sources(
    data: DataConfig, encoding: Encoding | None = None, *, documents: bool = False
) -> tuple[Dataset, Dataset, Dataset | None]:
    """Members, non-members and population; tables encoded with `encoding` (a scikit-learn model's
    columns), or else with one joint encoding of the audit's tables (never per file). `documents`:
    the data of a language model (text without labels)."""
    if data.members is None or data.nonmembers is None:
        raise InputError("auditing your own model needs data.members and data.nonmembers")
    sources = [data.members, data.nonmembers, data.population]
    tables = [s for s in sources if s is not None and s.source == "table"]
    if encoding is None and tables:
        label, text = tables[0].label_column, tables[0].text_field
        if any((s.label_column, s.text_field) != (label, text) for s in tables):
            raise InputError("the tables of one audit must name the same label_column and text_field; align them")
        encoding = table_encoding([read_frame(s.path or "") for s in tables], label=label, text=text)
    members, nonmembers, population = (
        load_source(s, encoding, documents=documents) if s is not None else None for s in sources
    )
    assert members is not None and nonmembers is not None
    return members, nonmembers, population


def is_language_model(target: TargetConfig) -> bool:
    """Whether the config's target is a causal LM (its data: documents), read from its config.json,
    adapter_config.json or GGUF suffix (no torch)."""
    if target.kind == "http":
        return target.api == "completions"
    if target.kind != "huggingface" or not target.path:
        return False
    p = Path(target.path)
    return p.exists() and is_causal_lm(p)


def preflight(data: DataConfig, seed: int, *, documents: bool = False) -> None:
    """Read every data source and check members against non-members, before torch or a model is
    loaded: a bad file or a set given twice fails in seconds, not after minutes of work."""
    members, nonmembers, _ = load_sources(data, documents=documents)
    check_disjoint(members, nonmembers, rng=np.random.default_rng(seed))


def load_source(src: DataSourceConfig, encoding: Encoding | None = None, *, documents: bool = False) -> Dataset:
    """One source as a Dataset (cached per process by the file's path, size and modification time)."""
    stamp = None
    if src.path and os.path.exists(src.path):
        st = os.stat(src.path)
        stamp = (st.st_size, st.st_mtime_ns)
    key = None if encoding is None else (tuple(encoding[0]), tuple(encoding[1]))
    return _load(src, key, stamp, documents)


@lru_cache(maxsize=8)
def _load(
    src: DataSourceConfig, encoding: tuple[tuple[str, ...], tuple[str, ...]] | None, stamp: object, documents: bool
) -> Dataset:
    if documents and src.source not in ("jsonl", "text", "hf-disk"):
        raise InputError(
            f"a language model's documents come from jsonl, text or hf-disk sources, not {src.source!r}; convert them"
        )
    label = None if documents else src.label_column
    if src.source == "builtin":
        d = load_builtin(src.name or "")
    elif src.source == "idx":
        d = images_from_idx(src.path or "", src.labels_path or "")
    elif src.source == "table":
        columns, classes = (list(encoding[0]), list(encoding[1])) if encoding is not None else (None, None)
        d = read_table(
            src.path or "",
            label=src.label_column,
            sensitive=src.sensitive_column,
            columns=columns,
            classes=classes,
            text=src.text_field,
        )
    elif src.source == "jsonl":
        d = read_jsonl(src.path or "", text_field=src.text_field or "text", label_field=label)
    elif src.source == "text":
        d = read_text(src.path or "")
    elif src.source == "npz":
        d = read_npz(src.path or "", x_key=src.x_key, y_key=src.y_key)
    elif src.source == "hf-disk":
        d = read_hf_disk(
            src.path or "", split=src.split, text_field=src.text_field, label_field=label,
            color_mode=src.color_mode,
        )  # fmt: skip
    else:
        d = read_image_folder(src.path or "", color_mode=src.color_mode)
    if src.limit is not None:
        d = d.subset(np.arange(min(src.limit, len(d))))
    return d
