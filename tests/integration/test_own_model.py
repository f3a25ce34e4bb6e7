"""A user's own model, as a user has it: their own CNN class in a file outside mlaudit, pretrained and
fine-tuned by their own script (tests/fixtures/own_model/train.py), saved as safetensors, audited through
the CLI with a config that names their factory, the public base, the training recipe and population
data. The strongest attacks then run on it: LiRA (online, references trained by mlaudit with the recipe,
from the base) and RMIA (offline) find the leak of 200 members fine-tuned 40 epochs; their controls (two
halves of the non-members) stay at chance; the base-model reference runs from the base.

Tolerances: 200 members vs 200 non-members; an AUC's standard error there is about 0.03, so a leak is
asserted as AUC > 0.6 (the measured values are far above) and chance as |AUC - 0.5| < 0.15 for the
control's 100 vs 100 (about 3 standard errors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlaudit.cli import main
from mlaudit.errors import InputError

from .conftest import audit_config, read_report, user_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_model"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return user_script(FIXTURE / "train.py", tmp_path_factory.mktemp("user"))


def test_lira_and_rmia_run_on_a_users_own_cnn_from_the_cli(trained, tmp_path):
    assert audit_config((trained / "audit.yaml").read_text(), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert {"loss", "base-reference", "lira", "rmia-offline"} <= set(found), (set(found), report["skipped"])
    for name in ("lira", "rmia-offline"):
        assert found[name]["metrics"]["auc"]["value"] > 0.6, name
        assert abs(found[f"{name}-control"]["metrics"]["auc"]["value"] - 0.5) < 0.15, name
    assert not report["errors"] and report["target"]["recipe"]["epochs"] == 40
    assert found["rmia-offline"]["attack"] == "rmia-offline"  # the registered name (before: "rmia", the online one)
    for name in ("lira", "rmia-offline", "loss"):  # every example's score is in report.json: metrics recompute
        (scores,) = [a["data"] for a in found[name]["artifacts"] if a["kind"] == "scores"]
        s_in, s_out = np.array(scores["members"]["scores"]), np.array(scores["nonmembers"]["scores"])
        assert len(set(scores["members"]["ids"]) | set(scores["nonmembers"]["ids"])) == len(s_in) + len(s_out)
        auc = roc_auc_score(np.r_[np.ones(len(s_in)), np.zeros(len(s_out))], np.r_[s_in, s_out])
        assert auc == pytest.approx(found[name]["metrics"]["auc"]["value"], abs=1e-12)
        thr = np.sort(s_out)[::-1][int(0.01 * len(s_out))]  # 1% of the non-members above it
        tpr = found[name]["metrics"]["tpr_at_0.01_fpr"]["value"]
        assert float((s_in > thr).mean()) == pytest.approx(tpr, abs=1e-12)
    spread = found["lira"]["metrics"]["tpr_at_0.01_fpr_over_reference_draws"]
    assert spread["ci_low"] <= spread["value"] <= spread["ci_high"] and "bootstrap" in spread["method"]
    models = list((tmp_path / "r" / ".mlaudit" / "models").glob("own-*-online-pairs-*.safetensors"))
    assert len(models) == 4  # the quick profile's online references, kept for a resumed audit


def test_a_factory_that_does_not_exist_is_one_line_exit_2(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text().replace(":make_net", ":make_nett")
    assert audit_config(cfg, tmp_path) == 2
    err = capsys.readouterr().err
    assert "has no callable 'make_nett'" in err and "make_net" in err


def test_weights_that_do_not_fit_the_factory_name_the_mismatch(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text().replace("{num_classes: 10}", "{num_classes: 10, width: 8}")
    assert audit_config(cfg, tmp_path) == 2
    assert "do not fit" in capsys.readouterr().err


def test_recipe_start_base_without_a_base_is_refused(trained, tmp_path, capsys):
    text = (trained / "audit.yaml").read_text()
    cfg = text[: text.index("base:\n")] + text[text.index("recipe:") :]
    assert audit_config(cfg, tmp_path) == 2
    assert "recipe.start is 'base' but no base" in capsys.readouterr().err
    assert InputError  # the CLI maps every mlaudit error to exit 2 with one line


def test_an_onnx_export_of_the_cnn_gets_the_black_box_attacks(trained, tmp_path):
    """The same CNN exported to ONNX by the user: served as logits through onnxruntime, it gets what a
    black box allows (LOSS, label-only, Square / HopSkipJump) within the query budget; the white-box
    suites are skipped with the reason."""
    user_script(FIXTURE / "export_onnx.py", trained)
    assert audit_config((trained / "audit-onnx.yaml").read_text(), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert {"loss", "label-only", "evasion-blackbox"} <= set(found), (set(found), report["errors"])
    assert report["target"]["adapter"] == "OnnxTarget" and report["target"]["output"] == "logits"
    ev = found["evasion-blackbox"]
    assert 0 < ev["config"]["queries"] <= 20000 and ev["metrics"]["square_success"]["value"] >= 0
    skipped = {s["attack"]: s["reason"] for s in report["skipped"]}
    assert "gradients" in skipped["evasion"]


def test_an_onnx_model_with_other_classes_is_one_line_exit_2(trained, tmp_path, capsys):
    user_script(FIXTURE / "export_onnx.py", trained)
    cfg = (trained / "audit-onnx.yaml").read_text().replace("num_classes: 10", "num_classes: 7")
    assert audit_config(cfg, tmp_path) == 2
    assert "(N, classes) = (N, 7)" in capsys.readouterr().err


def _fill_data(cfg: str, folder: Path, suffix: str, **extra: str) -> str:
    """What the user edits in a config `mlaudit init` wrote: the data paths (and, for tables, columns)."""
    for part in ("members", "nonmembers", "population"):
        cfg = cfg.replace(f"path: {part}.{suffix}", f"path: {folder / f'{part}.{suffix}'}")
    for old, new in extra.items():
        cfg = cfg.replace(old, new)
    return cfg


def test_init_writes_configs_that_run_once_the_data_paths_are_filled(trained, tmp_path, capsys):
    """`mlaudit init` on the user's safetensors (with their factory) and on its ONNX export: the configs
    name the kind, classes and input shape it inferred, and run with only the data paths filled in."""
    user_script(FIXTURE / "export_onnx.py", trained)
    factory = f"{FIXTURE / 'net.py'}:make_net"
    for name, args in (("torch", ["--factory", factory]), ("onnx", [])):
        model = trained / ("model.safetensors" if name == "torch" else "model.onnx")
        out = tmp_path / f"{name}.yaml"
        assert main(["init", str(model), "--out", str(out), *args]) == 0
        text = out.read_text()
        assert "num_classes: 10" in text and "# EDIT" in text  # the data paths are marked
        if name == "torch":
            assert "input_shape: [1, 8, 8]" in text and "make_net" in text
        (tmp_path / f"{name}-filled.yaml").write_text(_fill_data(text, trained, "npz"))
        rc = main(["audit", "--config", str(tmp_path / f"{name}-filled.yaml"), "--out", str(tmp_path / name)])
        assert rc in (0, 1), capsys.readouterr().err
        report, found = read_report(tmp_path / name)
        assert not report["errors"] and "loss" in found
    assert main(["init", str(trained / "model.safetensors"), "--out", str(tmp_path / "torch.yaml")]) == 2  # exists


def test_the_security_sections_run_on_the_users_cnn_with_its_recipe(trained, tmp_path):
    """Evasion (white-box, Square, transfer from a surrogate trained by the user's recipe and from the
    public base), Neural Cleanse and the poisoning measurement (three poisoned copies trained by the
    user's recipe) apply to the user's own CNN through the same planner as the built-in target; model
    inversion waits for the full profile and says so. Measured in the full profile on this fixture:
    white-box 105 of 190 broken at eps 0.1, BadNets ASR 92.1% at clean accuracy 0.945 (0.950 clean),
    inversion 28% recognised (chance 10%). Asserted: the poisoned model's ASR exceeds the clean model's
    on the same trigger by 0.5 (the backdoor is planted by the user's recipe, not a property of the
    trigger), white-box success is at least Square's (the stronger adversary), no job failed."""
    cfg = (trained / "audit.yaml").read_text()
    cfg = cfg.replace(
        "attacks: [loss, base-reference, lira, rmia-offline]",
        "attacks: [evasion, backdoor-scan, poisoning-demo, model-inversion]",
    )
    assert audit_config(cfg, tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert {"evasion", "backdoor-scan", "poisoning-demo"} <= set(found)
    skipped = {s["attack"]: s for s in report["skipped"]}
    assert (
        "full profile" in skipped["model-inversion"]["reason"] and "--profile full" in skipped["model-inversion"]["fix"]
    )
    po = found["poisoning-demo"]["metrics"]
    assert po["badnets_asr"]["value"] - po["badnets_asr_clean_model"]["value"] >= 0.5, po
    ev = found["evasion"]["metrics"]
    assert ev["white_box_success"]["value"] >= ev["square_success"]["value"] - 0.05, ev
    assert "transfer_surrogate-pgd" in ev and "transfer_base-feature-disruption" in ev  # recipe and base used
    assert found["backdoor-scan"]["metrics"]["max_anomaly_index"]["value"] >= 0
