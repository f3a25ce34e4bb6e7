"""A user's own causal language model (tests/fixtures/own_lm/train_lm.py): a tiny character Llama
'pre-trained' on 240 public lines (the base), fine-tuned on 80 member lines as a LoRA adapter (peft,
saved with save_pretrained), documents as JSON Lines with the user's own field name. Through the CLI
with `attacks: [membership, memorization, file-scan]`, the planner runs every LM membership attack the threat model
(logits, base_model) grants and skips the classifier ones silently; each finds the leak and its control
pair sits at chance.

Tolerances: 80 members vs 80 non-members, Mann-Whitney null sigma 0.046: a leak is AUC > 0.5 + 4 sigma
(0.68; a chance-level attack passes with p < 1e-4; the adapter reaches 0.75-0.95 here); the control
(40 vs 40, sigma 0.065) within 4 sigma of 0.5."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlaudit.metrics import mann_whitney_null_sigma

from .conftest import audit_config, read_report

SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "own_lm" / "train_lm.py"
LM_ATTACKS = ("lm-loss", "zlib", "min-k", "min-k-plus-plus", "lm-base-reference")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lm")
    subprocess.run([sys.executable, str(SCRIPT), str(out), "--lora"], check=True, timeout=600)
    return out


def test_a_users_lora_language_model_gets_every_lm_membership_attack_from_its_config(adapter, tmp_path) -> None:
    assert audit_config((adapter / "audit.yaml").read_text(), tmp_path) == 1  # high findings: exit 1
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["task"] == "causal language model" and report["data"]["members"]["size"] == 80
    for name in LM_ATTACKS:
        auc = found[name]["metrics"]["auc"]["value"]
        assert auc > 0.5 + 4 * mann_whitney_null_sigma(80, 80), (name, auc)
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(40, 40), (name, control)
    assert found["file-scan"]["severity"] in ("info", "low")
    # the classifier attacks are not listed as gaps of a language-model audit; nothing else ran
    assert {f["attack"] for f in report["findings"]} == {*LM_ATTACKS, "training-data-extraction", "file-scan"}
    skipped = {s["attack"]: s for s in report["skipped"]}  # no secret formats declared: said, with the fix
    assert "memorization.secrets" in skipped["canary-exposure"]["fix"]
    assert not any(s["attack"] in ("loss", "lira") for s in report.get("skipped", []))
    # nor the classifier demonstrations of the full profile that the memorization family holds
    assert not any(s["attack"].endswith("-demo") for s in report.get("skipped", []))


def test_an_adapter_without_its_base_and_a_classifier_attack_asked_by_name(adapter, tmp_path, capsys) -> None:
    cfg = (adapter / "audit.yaml").read_text()
    no_base = "\n".join(ln for ln in cfg.splitlines() if not ln.startswith("base:"))
    no_base = no_base.replace("knowledge: [base_model]", "knowledge: []")
    assert audit_config(no_base, tmp_path) == 2
    assert "without its base model" in capsys.readouterr().err
    asked = cfg.replace("attacks: [membership, memorization, file-scan]", "attacks: [lm-loss, loss]")
    assert audit_config(asked, tmp_path) in (0, 1)
    report, _ = read_report(tmp_path / "r")
    (skip,) = [s for s in report["skipped"] if s["attack"] == "loss"]
    assert "language model" in skip["reason"]


def test_mlaudit_init_on_the_adapter_writes_a_config_that_runs_once_the_data_paths_are_filled_in(
    adapter, tmp_path
) -> None:
    from mlaudit.cli import main

    out = tmp_path / "audit.yaml"
    assert main(["init", str(adapter / "adapter"), "--base", str(adapter / "base"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "access: logits" in text and "knowledge: [base_model]" in text and "num_classes" not in text
    for part in ("members", "nonmembers"):
        text = text.replace(f"path: {part}.jsonl, text_field: text", f"path: {adapter / part}.jsonl, text_field: body")
    text = text.replace("profile: quick", "profile: quick\nattacks: [lm-loss, min-k, file-scan]").replace(
        "attacks: [profile, membership, memorization]\n", ""
    )
    assert audit_config(text, tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"] and {"lm-loss", "min-k", "file-scan"} <= set(found)


@pytest.fixture(scope="module")
def smollm2_adapter(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smollm2")
    script = SCRIPT.with_name("train_smollm2_lora.py")
    subprocess.run([sys.executable, str(script), str(out)], check=True, timeout=1200)
    return out


def test_a_users_lora_fine_tune_of_smollm2_is_audited_from_its_config(smollm2_adapter, tmp_path) -> None:
    """The real model: SmolLM2-135M with a LoRA adapter on 100 documents (heavy: about 5 minutes).
    Tolerances: 100 vs 100, null sigma 0.041: a leak is AUC > 0.5 + 4 sigma = 0.66; the control (50 vs
    50, sigma 0.058) within 4 sigma. A secret seen 10+ times: exposure above 15 bits of 29.9 (the model
    ranks it above 2^15 random SSNs; never-inserted ones average 1.44 bits)."""
    import json

    assert audit_config((smollm2_adapter / "audit.yaml").read_text(), tmp_path) == 1
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    for name in ("lm-loss", "min-k-plus-plus", "lm-base-reference"):
        auc = found[name]["metrics"]["auc"]["value"]
        print(name, auc, found[f"{name}-control"]["metrics"]["auc"]["value"])
        assert auc > 0.5 + 4 * mann_whitney_null_sigma(100, 100), (name, auc)
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(50, 50), (name, control)
    secrets = json.loads((smollm2_adapter / "secrets.json").read_text())
    rows = next(a for a in found["canary-exposure"]["artifacts"] if a["title"] == "Canaries")["data"]["rows"]
    print(rows)
    assert {r[1]: r[0] for r in rows if r[0]} == secrets  # found in the members with their counts
    assert min(float(r[3]) for r in rows if r[0] >= 10) > 15
    assert found["file-scan"]["severity"] in ("info", "low")


@pytest.fixture(scope="module")
def full_fine_tune(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lm-full")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, timeout=600)
    return out


def test_reference_lms_fine_tuned_by_the_recipe_give_offline_lira(full_fine_tune, tmp_path) -> None:
    """The user's recipe (Adam 3e-3, 8 epochs, batch 16, all parameters, from the base: train_lm.py's) and
    160 population documents: two reference LMs, each the base fine-tuned on a random half, give offline
    LiRA (fixed variance). Tolerances as above: a leak above 0.5 + 4 null sigmas, the control within 4."""
    cfg = (full_fine_tune / "audit.yaml").read_text()
    cfg = cfg.replace(
        "attacks: [membership, memorization, file-scan]", "attacks: [lm-lira-offline, lm-loss]\nreferences: 2"
    )
    cfg = cfg.replace("knowledge: [base_model]", "knowledge: [base_model, population_data, training_recipe]")
    cfg = cfg.replace(
        "data:\n",
        f"recipe: {{optimizer: adam, lr: 3e-3, epochs: 8, batch_size: 16, start: base}}\ndata:\n"
        f"  population: {{source: jsonl, path: {full_fine_tune / 'population.jsonl'}, text_field: body}}\n",
    )
    assert audit_config(cfg, tmp_path) == 1
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    lira, loss = (found[n]["metrics"]["auc"]["value"] for n in ("lm-lira-offline", "lm-loss"))
    print("lira-offline", lira, "loss", loss, found["lm-lira-offline-control"]["metrics"]["auc"]["value"])
    assert found["lm-lira-offline"]["config"]["references"] == 2
    assert lira > 0.5 + 4 * mann_whitney_null_sigma(80, 80)
    control = found["lm-lira-offline-control"]["metrics"]["auc"]["value"]
    assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(40, 40)
    assert list((tmp_path / "r" / ".mlaudit" / "models").glob("lm-refs-*/reference-1.npz"))  # kept: a rerun resumes
