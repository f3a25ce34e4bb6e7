"""A user's Hugging Face text classifier (tests/fixtures/own_hf/train.py): all-MiniLM-L6-v2 fine-tuned
with plain transformers on 100 Rotten Tomatoes snippets (8 epochs), saved with save_pretrained, data
as JSON Lines with the user's own field names, the public MiniLM as the base. Through the CLI, LOSS
and the base-model reference run and find the leak; the control pair stays at chance.

Tolerances: 100 members vs 100 non-members, AUC standard error about 0.04: a leak is AUC > 0.65 (the
lower end of what 8 epochs on 100 texts give), chance |AUC - 0.5| < 4 x 0.0408 (the Mann-Whitney null
sigma of the 50 vs 50 control)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlaudit.cli import main
from mlaudit.metrics import mann_whitney_null_sigma

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_hf"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("user")
    subprocess.run([sys.executable, str(FIXTURE / "train.py"), str(out)], check=True, timeout=900)
    return out


def test_a_users_minilm_from_jsonl_gets_loss_and_the_base_reference(trained, tmp_path):
    rc = main(["audit", "--config", str(trained / "audit.yaml"), "--out", str(tmp_path / "r")])
    assert rc in (0, 1)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    found = {f["id"]: f for f in report["findings"]}
    assert not report["errors"], report["errors"]
    assert report["data"]["members"]["kind"] == "text" and report["data"]["members"]["size"] == 100
    for name in ("loss", "base-reference"):
        assert found[name]["metrics"]["auc"]["value"] > 0.65, (name, found[name]["metrics"]["auc"])
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50), name


def test_a_jsonl_line_without_the_field_is_one_line_exit_2(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text().replace("text_field: review", "text_field: body")
    (tmp_path / "bad.yaml").write_text(cfg)
    assert main(["audit", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "lacks 'body'" in err and "data.text_field" in err
