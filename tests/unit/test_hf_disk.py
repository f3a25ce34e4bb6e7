"""Hugging Face `datasets` folders (save_to_disk), read without the `datasets` library. The folders in
tests/fixtures/hf_disk were written by the real `datasets` 5.2.0 (make.py there); the values expected here
are the ones make.py wrote, computed by hand from its formulas, not read back with the code under test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlaudit.config import DataSourceConfig, from_dict
from mlaudit.data.formats import read_hf_disk
from mlaudit.data.sources import load_source
from mlaudit.errors import ConfigError, InputError

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "hf_disk"
TEXTS = [f"review number {i} says {'good' if i % 2 else 'bad'} things" for i in range(12)]


def test_a_text_dataset_reads_back_as_written():
    d = read_hf_disk(HERE / "text")
    assert d.kind == "text" and d.classes == ("neg", "pos")  # the ClassLabel's names
    assert list(d.x) == TEXTS and list(d.y) == [i % 2 for i in range(12)]


def test_an_image_dataset_reads_back_as_written():
    d = read_hf_disk(HERE / "images")
    assert d.kind == "image" and d.classes == ("a", "b", "c") and d.x.shape == (9, 1, 8, 8)
    r, c = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    for i in range(9):
        np.testing.assert_array_equal(np.rint(d.x[i, 0] * 255), (8 * i + r + c) % 256)  # PNG is lossless
    assert list(d.y) == [i % 3 for i in range(9)]
    assert read_hf_disk(HERE / "images", color_mode="rgb").x.shape == (9, 3, 8, 8)


def test_a_dataset_dict_needs_its_split():
    test = read_hf_disk(HERE / "dict", split="test")
    assert list(test.x) == TEXTS[8:] and list(test.y) == [0, 1, 0, 1]
    with pytest.raises(InputError, match="splits train, test; name one with data.split"):
        read_hf_disk(HERE / "dict")
    with pytest.raises(InputError, match="'validation' is not one of them"):
        read_hf_disk(HERE / "dict", split="validation")
    with pytest.raises(InputError, match="remove data.split"):
        read_hf_disk(HERE / "text", split="train")


def test_through_the_config_as_a_user_writes_it():
    src = from_dict(
        DataSourceConfig, {"source": "hf-disk", "path": str(HERE / "dict"), "split": "train"}, "data.members"
    )
    assert list(load_source(src).x) == TEXTS[:8]
    with pytest.raises(ConfigError, match="split is for hf-disk"):
        from_dict(DataSourceConfig, {"source": "npz", "path": "x.npz", "split": "train"}, "data.members")


def _copy(tmp_path: Path, name: str = "text") -> Path:
    return Path(shutil.copytree(HERE / name, tmp_path / name))


def test_bad_folders_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="no column 'stars'"):
        read_hf_disk(HERE / "text", label_field="stars")
    with pytest.raises(InputError, match="no state.json"):
        read_hf_disk(tmp_path)
    bad = _copy(tmp_path)
    state = json.loads((bad / "state.json").read_text())
    state["_data_files"] = [{"filename": "../../etc/passwd"}]  # names outside the folder are refused
    (bad / "state.json").write_text(json.dumps(state))
    with pytest.raises(InputError, match="no data files inside the folder"):
        read_hf_disk(bad)
    garbage = _copy(tmp_path / "g")
    (garbage / "data-00000-of-00001.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(InputError, match="not an Arrow stream"):
        read_hf_disk(garbage)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        read_hf_disk(tmp_path / "file")
