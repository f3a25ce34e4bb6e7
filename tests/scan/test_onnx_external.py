"""Issue 21, class 8 (ONNX): external data is checked for every tensor a loader reads, not only
initializers: a Constant node's value attribute, TENSORS lists, sparse initializers and subgraphs
(an If's branch); a location through a symlinked folder anywhere on its path; onnxruntime's in-memory
marker. Each variant is built here, with a benign twin whose external data stays in the folder."""

from __future__ import annotations

import os
import random

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _external(name: str, location: str) -> TensorProto:
    t = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "8")):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _model(where: str, location: str) -> bytes:
    """A one-output model whose tensor with external data sits `where`."""
    t = _external("c", location)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    inits, sparse = [], []
    if where == "constant":
        nodes = [helper.make_node("Constant", [], ["y"], value=t)]
    elif where == "sparse":
        idx = helper.make_tensor("i", TensorProto.INT64, [2], [0, 1])
        sparse = [helper.make_sparse_tensor(t, idx, [2])]
        nodes = [helper.make_node("Identity", ["c"], ["y"])]
    elif where == "subgraph":
        branch = helper.make_graph([helper.make_node("Constant", [], ["z"], value=t)], "b", [],
                                   [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])  # fmt: skip
        cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
        inits = [cond]
        nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)]
    else:
        inits = [t]
        nodes = [helper.make_node("Identity", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [], [out], initializer=inits, sparse_initializer=sparse)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _scan(folder, data: bytes):
    (folder / "model.onnx").write_bytes(data)
    (r,) = scan_paths([folder / "model.onnx"])
    return r


@pytest.mark.parametrize("where", ["initializer", "constant", "sparse", "subgraph"])
@pytest.mark.parametrize("seed", range(3))
def test_an_escaping_location_is_flagged_wherever_the_tensor_sits(tmp_path, where, seed):
    rng = random.Random(seed)
    bad = rng.choice(["/etc/passwd", "../../secret.bin", "*/_ORT_MEM_ADDR_/*", "..\\\\x.bin"])
    r = _scan(tmp_path, _model(where, bad))
    assert r.worst >= Severity.HIGH, (where, bad, r.to_dict())
    (tmp_path / "w.bin").write_bytes(b"\0" * 8)
    r = _scan(tmp_path, _model(where, "w.bin"))  # the twin: data beside the model
    assert r.worst < Severity.MEDIUM and r.error is None, (where, r.to_dict())


def test_a_symlinked_folder_on_the_path_is_flagged(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 8)
    model = tmp_path / "model"
    model.mkdir()
    os.symlink(outside, model / "data")  # the folder is the link; the file itself is not
    r = _scan(model, _model("initializer", "data/w.bin"))
    assert any(i.rule == "onnx/external-data-symlink" for i in r.issues), r.to_dict()
    (model / "real").mkdir()
    (model / "real" / "w.bin").write_bytes(b"\0" * 8)
    r = _scan(model, _model("initializer", "real/w.bin"))
    assert not any(i.rule.startswith("onnx/external") for i in r.issues), r.to_dict()
