"""A user's Hugging Face image classifier (tests/fixtures/own_hf/train_vit.py): a tiny ViT trained with
plain transformers on 150 digits images normalised as its ViTImageProcessor says, saved with
save_pretrained (model and processor). Through the CLI, with images in [0, 1] as npz: the processor's
resize and normalisation run inside the audited module (so white-box evasion differentiates through
them), LOSS finds the members and the control stays at chance.

Tolerances: 150 vs 150, Mann-Whitney null sigma sqrt(301 / (12 * 150 * 150)) = 0.0334: a leak is AUC above
0.5 + 4 sigma; the control (75 vs 75, sigma 0.0473) within 0.5 +- 4 sigma."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlaudit.metrics import mann_whitney_null_sigma

from .conftest import audit_config, read_report, user_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_hf"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return user_script(FIXTURE / "train_vit.py", tmp_path_factory.mktemp("vit"), timeout=900)


def test_a_users_vit_gets_loss_and_white_box_evasion(trained, tmp_path):
    assert audit_config((trained / "audit.yaml").read_text(), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["architecture"] == "ImageClassifier" and report["data"]["members"]["kind"] == "image"
    assert found["loss"]["metrics"]["auc"]["value"] > 0.5 + 4 * mann_whitney_null_sigma(150, 150)
    assert abs(found["loss-control"]["metrics"]["auc"]["value"] - 0.5) < 4 * mann_whitney_null_sigma(75, 75)
    ev = found["evasion"]["metrics"]
    assert ev["white_box_success"]["value"] >= 0.5  # gradients flow through the processor's steps


def test_a_processor_that_does_not_rescale_is_refused(trained, tmp_path, capsys):
    proc = json.loads((trained / "model" / "preprocessor_config.json").read_text())
    (trained / "model" / "preprocessor_config.json").write_text(json.dumps({**proc, "do_rescale": False}))
    try:
        assert audit_config((trained / "audit.yaml").read_text(), tmp_path) == 2
        assert "does not rescale pixels" in capsys.readouterr().err
        # a shortest-edge resize and centre crop (ResNet / ConvNeXT processors) is refused, not approximated
        crop = {**proc, "size": {"shortest_edge": 8}, "do_center_crop": True, "crop_size": {"height": 8, "width": 8}}
        (trained / "model" / "preprocessor_config.json").write_text(json.dumps(crop))
        (tmp_path / "crop").mkdir()
        assert audit_config((trained / "audit.yaml").read_text(), tmp_path / "crop") == 2
        assert "then centre-crops" in capsys.readouterr().err
    finally:
        (trained / "model" / "preprocessor_config.json").write_text(json.dumps(proc))
    cfg = (trained / "audit.yaml").read_text().replace("num_classes: 10", "num_classes: 7")
    (tmp_path / "b").mkdir()
    assert audit_config(cfg, tmp_path / "b") == 2
    assert "classifies 10 labels but target.num_classes is 7" in capsys.readouterr().err


def test_init_writes_a_config_that_runs_once_the_data_is_named(trained, tmp_path):
    """`mlaudit init` on the folder: an image config (npz data, no text recipe suggested) that runs with the
    data paths filled in; a recipe for it is refused with the reason (not silently ignored)."""
    from mlaudit.cli import main

    out = tmp_path / "init.yaml"
    assert main(["init", str(trained / "model"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "ViTForImageClassification" in text and "adamw" not in text and "source: npz" in text
    for part in ("members", "nonmembers"):
        text = text.replace(f"path: {part}.npz", f"path: {trained / f'{part}.npz'}")
    text = text.replace("  population: {source: npz, path: population.npz}", "").replace("[population_data]", "[]")
    text = text.replace("[profile, loss, label-only]", "[loss]")
    assert audit_config(text, tmp_path) in (0, 1)
    assert "loss" in read_report(tmp_path / "r")[1]
    with_recipe = text.replace("data:", "recipe: {epochs: 3}\ndata:")
    (tmp_path / "c").mkdir()
    assert audit_config(with_recipe, tmp_path / "c") == 2
