"""A user's Hugging Face text classifier (tests/fixtures/own_hf/train.py): all-MiniLM-L6-v2 fine-tuned
with plain transformers on 100 Rotten Tomatoes snippets (8 epochs), saved with save_pretrained, data
as JSON Lines with the user's own field names, the public MiniLM as the base. Through the CLI, LOSS
and the base-model reference run and find the leak; the control pair stays at chance.

Tolerances: 100 members vs 100 non-members, AUC standard error about 0.04: a leak is AUC > 0.65 (the
lower end of what 8 epochs on 100 texts give), chance |AUC - 0.5| < 4 x 0.0408 (the Mann-Whitney null
sigma of the 50 vs 50 control)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlaudit.metrics import mann_whitney_null_sigma

from .conftest import audit_config, read_report, user_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_hf"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return user_script(FIXTURE / "train.py", tmp_path_factory.mktemp("user"), timeout=900)


def test_a_users_minilm_from_jsonl_gets_loss_the_base_reference_and_word_substitution(trained, tmp_path):
    """Word substitution (the profile's text section) runs on the user's model too: on MiniLM fine-tuned
    on 100 texts it flipped 20-60% of correct predictions in tests/security/test_text.py; asserted here
    is at least one flip among the 20 held-out texts and a severity capped at LOW (the threat model
    grants probabilities, not gradients)."""
    cfg = (trained / "audit.yaml").read_text()
    assert "attacks: [loss, base-reference]" in cfg
    cfg = cfg.replace("attacks: [loss, base-reference]", "attacks: [loss, base-reference, word-substitution]")
    assert audit_config(cfg, tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["data"]["members"]["kind"] == "text" and report["data"]["members"]["size"] == 100
    for name in ("loss", "base-reference"):
        assert found[name]["metrics"]["auc"]["value"] > 0.65, (name, found[name]["metrics"]["auc"])
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50), name
    ws = found["word-substitution"]
    assert ws["metrics"]["success_rate"]["value"] > 0 and ws["severity"] in ("low", "info")
    assert ws["config"]["n_examples"] == 20 and "word-substitution-control" not in found


def test_a_jsonl_line_without_the_field_is_one_line_exit_2(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text().replace("text_field: review", "text_field: body")
    assert audit_config(cfg, tmp_path) == 2
    err = capsys.readouterr().err
    assert "lacks 'body'" in err and "data.text_field" in err


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    return user_script(FIXTURE / "train_lora.py", tmp_path_factory.mktemp("lora"), timeout=900)


def test_a_lora_adapter_over_the_public_base_is_audited_merged(lora, tmp_path):
    """The same task as a PEFT LoRA adapter (rank 8, 10 epochs): the audit loads base + adapter (peft,
    safetensors only), merges it, and LOSS and the base reference find the leak (measured: AUC 0.82
    both), controls at chance; the report names the adapter and scans the base's files too."""
    assert audit_config((lora / "audit.yaml").read_text(), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["adapter"].startswith("PEFT") and report["data"]["checks"]["member_accuracy"] > 0.9
    assert any(f.endswith("adapter_model.safetensors") for f in report["target"]["files"])
    assert any(f.endswith("model.safetensors") and "adapter" not in f for f in report["target"]["files"])
    for name in ("loss", "base-reference"):
        assert found[name]["metrics"]["auc"]["value"] > 0.65, (name, found[name]["metrics"]["auc"])
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50), name


def _lira_offline(folder, tmp_path, recipe: str) -> tuple[dict, dict]:
    """The fixture's config with the recipe, population knowledge and 2 references per set, running
    LiRA offline only; the report and its findings, checked to have no failed job."""
    text = (folder / "audit.yaml").read_text()
    text = text.replace(
        "knowledge: [population_data, base_model]", "knowledge: [population_data, base_model, training_recipe]"
    )
    text = text.replace("attacks: [loss, base-reference]", "attacks: [lira-offline]")
    text += f"recipe: {recipe}\nreferences: 2\n"
    assert audit_config(text, tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    return report, found


def test_reference_lora_adapters_over_the_base_run_lira_offline(lora, tmp_path):
    """Acceptance (c): the LoRA adapter with a recipe (AdamW 2e-3, 10 epochs, batch 16, as
    train_lora.py): 2 offline references are LoRA adapters (rank 8 on query / value, read from the
    adapter's config) over copies of the public MiniLM, trained on population texts and merged; LiRA
    offline runs on them. A leak is AUC > 0.6 on 100 vs 100 texts, the control within 4 null sigmas."""
    report, found = _lira_offline(
        lora, tmp_path, "{optimizer: adamw, lr: 2e-3, epochs: 10, batch_size: 16, start: base}"
    )
    assert report["target"]["recipe"]["lora"]["rank"] == 8
    assert found["lira-offline"]["metrics"]["auc"]["value"] > 0.6, found["lira-offline"]["metrics"]["auc"]
    control = found["lira-offline-control"]["metrics"]["auc"]["value"]
    assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50)


def test_an_adapter_without_its_base_is_one_line_exit_2(lora, tmp_path, capsys):
    text = (lora / "audit.yaml").read_text()
    cfg = text[: text.index("base:\n")] + text[text.index("data:") :]
    cfg = cfg.replace("knowledge: [population_data, base_model]", "knowledge: [population_data]")
    assert audit_config(cfg, tmp_path) == 2
    assert "is a PEFT adapter (adapter_config.json) without its base model; add base:" in capsys.readouterr().err


def test_reference_minilms_fine_tuned_from_the_base_run_lira_offline(trained, tmp_path):
    """Acceptance (b): with the user's recipe (AdamW 5e-5, 8 epochs, batch 16, all parameters, as
    train.py did), 2 offline references are copies of the public MiniLM fine-tuned on population texts,
    and LiRA offline runs on them (2 online ones train too). 100 vs 100 texts: a leak is AUC > 0.6,
    the control within 4 null sigmas of chance. The fine-tuned references are kept for a rerun.
    Measured: LiRA offline AUC 0.796, TPR at 1% FPR 15.0% (LOSS 0.791, 9.0%), control 0.420."""
    _, found = _lira_offline(trained, tmp_path, "{optimizer: adamw, lr: 5e-5, epochs: 8, batch_size: 16, start: base}")
    assert found["lira-offline"]["metrics"]["auc"]["value"] > 0.6, found["lira-offline"]["metrics"]["auc"]
    control = found["lira-offline-control"]["metrics"]["auc"]["value"]
    assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50)
    assert len(list((tmp_path / "r" / ".mlaudit" / "models").glob("own-*-offline-*.safetensors"))) == 2
