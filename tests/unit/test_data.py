import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from mlaudit import InputError
from mlaudit.data import (
    Dataset,
    breast_cancer,
    cps1988,
    digits,
    fashion_mnist,
    fashion_mnist_available,
    images_from_idx,
    read_idx,
    read_image_folder,
    read_npz,
    read_table,
    rotten_tomatoes,
    split,
)


def _write_idx(path, arr: np.ndarray, code=0x08):
    raw = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()
    (gzip.open if str(path).endswith(".gz") else open)(path, "wb").write(raw)


def test_idx_round_trip(tmp_path):
    imgs = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    _write_idx(tmp_path / "i.gz", imgs)
    _write_idx(tmp_path / "l", np.array([1, 0], np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz"), imgs)
    d = images_from_idx(tmp_path / "i.gz", tmp_path / "l")
    assert d.x.shape == (2, 1, 3, 3) and d.x.max() == pytest.approx(17 / 255)


def test_idx_truncated(tmp_path):
    _write_idx(tmp_path / "i", np.zeros((4, 2, 2), np.uint8))
    (tmp_path / "i").write_bytes((tmp_path / "i").read_bytes()[:-3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_idx(tmp_path / "i")


def test_npz_plain_and_object_arrays(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((3, 2)), y=np.array([0, 1, 1]))
    assert len(read_npz(tmp_path / "ok.npz")) == 3
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(InputError, match="pickled object arrays"):
        read_npz(tmp_path / "obj.npz")


def test_table_csv_and_parquet(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"age": [30, 40, 50, 60], "city": ["a", "b", "a", "b"], "label": ["no", "yes", "no", "yes"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    for f in ("t.csv", "t.parquet"):
        d = read_table(tmp_path / f, label="label")
        assert d.x.shape == (4, 3) and d.classes == ("no", "yes") and d.y.tolist() == [0, 1, 0, 1]
        assert d.x[:, 0].tolist() == [30, 40, 50, 60]  # raw values: a user's table is never rescaled per file
    with pytest.raises(InputError, match="label column 'target' not in table"):
        read_table(tmp_path / "t.csv", label="target")


def test_image_folder(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((4, 5, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    d = read_image_folder(tmp_path)
    assert d.x.shape == (4, 3, 4, 5) and d.classes == ("cat", "dog") and d.y.tolist() == [0, 0, 1, 1]


def test_empty_dataset_and_label_mismatch():
    with pytest.raises(InputError, match="is empty"):
        Dataset(np.zeros((0, 2)), np.zeros(0, int), ("a", "b"), "e", "tabular")
    d = Dataset(np.zeros((2, 2)), np.array([0, 4]), tuple("abcde"), "five", "tabular")
    with pytest.raises(InputError, match="has label 4 but the model has 3 classes"):
        d.check_num_classes(3)


def test_split_disjoint_seeded_and_recorded():
    d = digits()
    a = split(d, {"members": 100, "nonmembers": 100}, seed=3)
    b = split(d, {"members": 100, "nonmembers": 100}, seed=3)
    assert not set(a.indices["members"]) & set(a.indices["nonmembers"])
    np.testing.assert_array_equal(a.indices["members"], b.indices["members"])
    rec = a.to_dict()
    assert rec["seed"] == 3 and rec["parts"]["members"]["size"] == 100 and len(rec["parts"]["members"]["sha256"]) == 64
    with pytest.raises(InputError, match="needs 5000"):
        split(d, {"a": 5000}, seed=0)


def test_packaged_assets():
    assert digits().x.shape == (1797, 1, 8, 8)
    assert breast_cancer().x.shape == (569, 30)
    c = cps1988()
    assert len(c) == 28155 and c.sensitive_name == "ethnicity" and set(np.unique(c.sensitive)) == {0, 1}
    rt = rotten_tomatoes()
    assert len(rt) == 7403 + 5405 and isinstance(rt.x[0], str) and rt.y.sum() == 7403


@pytest.mark.skipif(not fashion_mnist_available(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist():
    tr, te = fashion_mnist("train"), fashion_mnist("test")
    assert tr.x.shape == (60000, 1, 28, 28) and te.x.shape == (10000, 1, 28, 28)
    assert np.bincount(tr.y).tolist() == [6000] * 10 and 0 <= tr.x.min() and tr.x.max() <= 1
