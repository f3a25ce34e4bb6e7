"""A user's scikit-learn model, as a user has it (tests/fixtures/own_sklearn/train.py): a random forest
fitted on pandas' one-hot encoding of their CSV table, saved with skops, audited through the CLI with
the sensitive column named. Reference models are refits of the estimator's clone (its parameters are
its recipe) on the population CSV; membership attacks with references and attribute inference run.

Tolerances: 1,000 members vs 1,000 non-members; an AUC's standard error is about 0.012 there, so a leak
is asserted as AUC > 0.6 (measured 0.70-0.71) and chance as |AUC - 0.5| < 4 x 0.0183, the Mann-Whitney
null sigma of the 500 vs 500 control. Attribute inference: the paired-bootstrap 95% interval of the
advantage over the model-free baseline excludes 0 on members (measured [+0.080, +0.190]) and contains
it on non-members (measured -0.041 [-0.102, ...])."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlaudit.cli import main
from mlaudit.metrics import mann_whitney_null_sigma

from .conftest import audit_config, read_report, user_script

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "own_sklearn"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return user_script(FIXTURE / "train.py", tmp_path_factory.mktemp("user"))


def test_a_skops_forest_gets_membership_with_references_and_attribute_inference(trained, tmp_path):
    assert audit_config((trained / "audit.yaml").read_text(), tmp_path) in (0, 1)
    report, found = read_report(tmp_path / "r")
    assert not report["errors"], report["errors"]
    assert report["target"]["adapter"] == "SklearnTarget"
    for name in ("lira", "rmia-offline"):
        assert found[name]["metrics"]["auc"]["value"] > 0.6, name
        control = found[f"{name}-control"]["metrics"]["auc"]["value"]
        assert abs(control - 0.5) < 4 * mann_whitney_null_sigma(500, 500), name
    assert found["lira"]["config"]["references"] == 4
    adv = found["attribute-inference"]["metrics"]
    assert adv["advantage_members"]["ci_low"] > 0, adv  # the model reveals members' ethnicity
    assert adv["advantage_nonmembers"]["ci_low"] < 0 < adv["advantage_nonmembers"]["ci_high"], adv  # not others'


def test_untrusted_types_are_refused_with_the_types_named(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text()
    cfg = "\n".join(line for line in cfg.splitlines() if "trusted:" not in line)
    assert audit_config(cfg, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "sklearn.tree._tree.Tree" in err and "target.trusted" in err and len(err.splitlines()) == 1


def test_a_category_the_model_never_saw_is_refused(trained, tmp_path, capsys):
    rows = (trained / "members.csv").read_text().splitlines()
    header = rows[0].split(",")
    col = header.index("region")
    bad = [rows[0]] + [",".join(v if i != col else "atlantis" for i, v in enumerate(r.split(","))) for r in rows[1:]]
    (tmp_path / "members.csv").write_text("\n".join(bad) + "\n")
    cfg = (trained / "audit.yaml").read_text().replace(str(trained / "members.csv"), str(tmp_path / "members.csv"))
    assert audit_config(cfg, tmp_path) == 2
    assert "region_atlantis" in capsys.readouterr().err


def test_a_recipe_for_a_sklearn_model_is_a_config_error(trained, tmp_path, capsys):
    cfg = (trained / "audit.yaml").read_text() + "recipe: {epochs: 3}\n"
    assert audit_config(cfg, tmp_path) == 2
    assert "its own parameters" in capsys.readouterr().err


def test_init_writes_a_config_that_runs_once_the_data_is_named(trained, tmp_path, capsys):
    """`mlaudit init model.skops`: the tree type it checks itself is trusted, the classes and the one-hot
    columns (sensitive-column candidates) are read from the model; filling in the data paths and the
    label column is all that is left."""
    out = tmp_path / "init.yaml"
    assert main(["init", str(trained / "model.skops"), "--out", str(out)]) == 0
    text = out.read_text()
    assert 'trusted: ["sklearn.tree._tree.Tree"]' in text and "num_classes: 2" in text
    assert "candidates for sensitive_column: ethnicity, parttime, region, smsa" in text
    for part in ("members", "nonmembers", "population"):
        text = text.replace(
            f"path: {part}.csv, label_column: label", f"path: {trained / part}.csv, label_column: high_wage"
        )
    assert audit_config(text, tmp_path) in (0, 1), capsys.readouterr().err
    report, found = read_report(tmp_path / "r")
    assert not report["errors"] and {"loss", "lira"} <= set(found)
