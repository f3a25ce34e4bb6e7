"""Loading what a user has without trusting it: skops files (trusted types only, trees checked node by
node), tables encoded as the model was fitted, ONNX files scanned and shape-checked."""

from __future__ import annotations

import json
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from mlaudit.config import TARGET_KINDS
from mlaudit.data.formats import model_encoding
from mlaudit.errors import InputError, UnsafeFileError
from mlaudit.targets.onnx import OnnxTarget
from mlaudit.targets.sklearn import SklearnTarget, check_tree, load_skops


def test_the_report_schema_knows_every_target_kind():
    schema = json.loads(resources.files("mlaudit.report").joinpath("report.schema.json").read_text())
    assert schema["properties"]["target"]["properties"]["kind"]["enum"] == list(TARGET_KINDS)


@pytest.fixture()
def table():
    rows = {"age": [30, 40, 50, 60], "region": ["n", "s", "n", "e"], "sex": ["f", "m", "m", "f"]}
    return pd.DataFrame({**rows, "y": ["a", "b", "a", "b"]})


def test_skops_logistic_regression_loads_with_default_trust(tmp_path, table):
    x = pd.get_dummies(table.drop(columns=["y"]))
    sio.dump(LogisticRegression().fit(x, table["y"]), tmp_path / "m.skops")
    t = SklearnTarget.from_skops(tmp_path / "m.skops")
    assert t.feature_names == list(x.columns) and t.num_classes == 2
    np.testing.assert_allclose(t.probabilities(x.to_numpy(np.float32)).sum(1), 1.0)


def test_skops_forest_needs_the_tree_type_trusted(tmp_path, table):
    x = pd.get_dummies(table.drop(columns=["y"]))
    sio.dump(RandomForestClassifier(3, random_state=0).fit(x, table["y"]), tmp_path / "f.skops")
    with pytest.raises(UnsafeFileError, match=r"sklearn\.tree\._tree\.Tree.*target\.trusted"):
        load_skops(tmp_path / "f.skops")
    est = load_skops(tmp_path / "f.skops", trusted=("sklearn.tree._tree.Tree",))
    assert len(est.estimators_) == 3


def test_a_pickle_named_skops_is_refused(tmp_path):
    (tmp_path / "m.skops").write_bytes(b"\x80\x04\x95" + b"\x00" * 20)
    with pytest.raises(UnsafeFileError, match="not a skops file"):
        load_skops(tmp_path / "m.skops")


def _tree(left, right, feature, n_features=3):
    n = len(left)
    return SimpleNamespace(
        node_count=n, children_left=np.array(left), children_right=np.array(right), feature=np.array(feature),
        value=np.zeros((n, 1, 2)), n_features=n_features,
    )  # fmt: skip


def test_tree_node_arrays_are_bounds_checked():
    check_tree(_tree([1, -1, -1], [2, -1, -1], [0, -2, -2]), "ok")  # a root and two leaves
    bad = {
        "child beyond the nodes": _tree([1, -1, -1], [7, -1, -1], [0, -2, -2]),
        "a cycle back to the root": _tree([1, 0, -1], [2, 0, -1], [0, 1, -2]),
        "feature beyond the input": _tree([1, -1, -1], [2, -1, -1], [5, -2, -2]),
        "one child missing": _tree([1, -1, -1], [-1, -1, -1], [0, -2, -2]),
    }
    for why, tree in bad.items():
        with pytest.raises(UnsafeFileError, match="out of bounds"):
            check_tree(tree, why)


def test_a_real_forest_passes_the_tree_check(table):
    x = pd.get_dummies(table.drop(columns=["y"]))
    for est in RandomForestClassifier(5, random_state=0).fit(x, table["y"]).estimators_:
        check_tree(est.tree_, "forest")


def test_model_encoding_follows_the_models_columns_and_classes(table):
    columns = ["age", "region_e", "region_n", "region_s", "sex_f", "sex_m"]
    part = table.iloc[[0, 2]]  # only region n, sex f/m, label a: the other columns and classes still line up
    d = model_encoding(part, label="y", sensitive="sex", name="t", columns=columns, classes=["a", "b"])
    np.testing.assert_array_equal(d.x, [[30, 0, 1, 0, 1, 0], [50, 0, 1, 0, 0, 1]])
    assert d.y.tolist() == [0, 0] and d.classes == ("a", "b")
    assert d.sensitive.tolist() == [0, 1]  # f, m: indexed by the model's sex_* columns, not this file's values


def test_model_encoding_refuses_what_the_model_never_saw(table):
    columns = ["age", "region_n", "region_s", "sex_f", "sex_m"]
    with pytest.raises(InputError, match="region_e"):
        model_encoding(table, label="y", sensitive=None, name="t", columns=columns, classes=["a", "b"])
    with pytest.raises(InputError, match="lacks columns.*income"):
        model_encoding(
            table, label="y", sensitive=None, name="t", columns=[*columns, "region_e", "income"], classes=["a", "b"]
        )
    with pytest.raises(InputError, match="labels the model does not know: b"):
        model_encoding(table.iloc[[0, 1]], label="y", sensitive=None, name="t", columns=columns, classes=["a"])


class _Net(torch.nn.Module):
    def __init__(self, softmax: bool):
        super().__init__()
        self.lin, self.softmax = torch.nn.Linear(4, 3), softmax

    def forward(self, x):
        z = self.lin(x)
        return torch.softmax(z, 1) if self.softmax else z


@pytest.mark.parametrize("softmax", [False, True])
def test_onnx_output_kind_is_detected_and_probabilities_agree(tmp_path, softmax):
    torch.manual_seed(0)
    net = _Net(softmax).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        net, (torch.zeros(1, 4),), str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}}
    )
    t = OnnxTarget(path, num_classes=3)
    assert t.describe()["output"] == ("probabilities" if softmax else "logits")
    x = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    expect = torch.softmax(net.lin(torch.as_tensor(x)), 1).detach().numpy()
    np.testing.assert_allclose(t.probabilities(x), expect, atol=1e-5)
    with pytest.raises(InputError, match=r"\(N, classes\) = \(N, 4\)"):
        OnnxTarget(path, num_classes=4)


def test_jsonl_text_with_integer_or_named_labels(tmp_path):
    from mlaudit.data import read_jsonl

    (tmp_path / "a.jsonl").write_text('{"body": "good film", "y": 1}\n\n{"body": "bad", "y": 0}\n')
    d = read_jsonl(tmp_path / "a.jsonl", text_field="body", label_field="y")
    assert d.kind == "text" and list(d.x) == ["good film", "bad"] and d.y.tolist() == [1, 0] and d.classes == ("0", "1")
    (tmp_path / "b.jsonl").write_text('{"text": "x", "label": "spam"}\n{"text": "y", "label": "ham"}\n')
    d = read_jsonl(tmp_path / "b.jsonl")
    assert d.classes == ("ham", "spam") and d.y.tolist() == [1, 0]
    (tmp_path / "c.jsonl").write_text('{"text": "x", "label": 1}\nnot json\n')
    with pytest.raises(InputError, match="line 2 is not JSON"):
        read_jsonl(tmp_path / "c.jsonl")


def test_a_model_fitted_without_column_names_refuses_a_table(tmp_path, table):
    """Encoding a table for a model that recorded no column names would be a guess: refused, npz asked for."""
    from mlaudit.config import AuditConfig, from_dict
    from mlaudit.scenarios.own_model import prepare
    from mlaudit.scenarios.record import threat_model

    x = pd.get_dummies(table.drop(columns=["y"])).to_numpy(np.float32)
    sio.dump(LogisticRegression().fit(x, table["y"]), tmp_path / "m.skops")
    table.to_csv(tmp_path / "t.csv", index=False)
    src = {"source": "table", "path": str(tmp_path / "t.csv"), "label_column": "y"}
    raw = {"target": {"kind": "sklearn", "path": str(tmp_path / "m.skops"), "num_classes": 2},
           "data": {"members": src, "nonmembers": src}}  # fmt: skip
    cfg = from_dict(AuditConfig, raw)
    with pytest.raises(InputError, match="without column names.*npz"):
        prepare(cfg, ["loss"], threat_model(cfg), cache=None)


def test_init_reads_a_dynamic_class_count_from_one_forward_pass(tmp_path):
    """An ONNX graph whose output's class dimension is symbolic: init runs it once on zeros (its input
    shape is static) and gets 3 classes."""
    from mlaudit.runner.init import inspect_model

    path = tmp_path / "m.onnx"
    torch.onnx.export(
        _Net(False).eval(), (torch.zeros(1, 4),), str(path), dynamo=False, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "n"}, "y": {0: "n", 1: "c"}},
    )  # fmt: skip
    found = inspect_model(path)
    assert found.kind == "onnx" and found.num_classes == 3 and found.input_shape == (4,)
