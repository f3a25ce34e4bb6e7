"""The black-box evasion suite both ways, through a CallableTarget (nothing but its outputs): a logistic
regression on 8x8 digits falls to Square and HopSkipJump at Linf eps 0.2, every query counted within
the budget; a model whose output ignores its input cannot be evaded at all (success exactly 0)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from mlaudit.attacks import AttackInputs
from mlaudit.attacks.evasion.finding import EvasionBudget
from mlaudit.data import Dataset
from mlaudit.registry import get_attack
from mlaudit.targets import CallableTarget
from mlaudit.threat import Access, ThreatModel

BUDGET = EvasionBudget(n_examples=40, eps=0.2, square_queries=300, hsj_examples=4, hsj_queries=300, pgd_steps=5)


def _digits():
    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    return x[:1000], y[:1000], Dataset(x[1000:1200], y[1000:1200], tuple(map(str, range(10))), "digits", "image")


def _run(fn, budget=20_000):
    held = _digits()[2]
    tm = ThreatModel(access=Access.PROBABILITIES, query_budget=budget)
    target = CallableTarget(fn, output="probabilities", num_classes=10).restricted(tm)
    inputs = AttackInputs(nonmembers=held, threat_model=tm)
    f = get_attack("evasion-blackbox", budget=BUDGET).run(target, inputs, seed=0)
    return f, target


def test_a_linear_model_falls_to_score_and_label_attacks():
    x, y, _ = _digits()
    clf = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), y)
    f, target = _run(lambda b: clf.predict_proba(np.asarray(b).reshape(len(b), -1)))
    assert f.metrics["clean_accuracy"].value > 0.8
    # Clopper-Pearson lower bound above a half: most correctly classified digits are broken by Square
    assert f.metrics["square_success"].ci_low > 0.5, f.metrics["square_success"]
    assert f.metrics["hopskipjump_within_eps"].value > 0
    assert f.config["queries"] == target.queries <= 20_000


def test_an_input_blind_model_cannot_be_evaded():
    const = np.full(10, 0.01)
    const[3] = 0.91
    f, _ = _run(lambda b: np.tile(const, (len(b), 1)))
    assert f.metrics["square_success"].value == 0.0 and f.metrics["hopskipjump_within_eps"].value == 0.0
    assert f.severity.name == "INFO"


def test_a_tight_budget_shortens_the_attacks_and_holds():
    """2,500 queries: 40 for the labels, 40 reserved for checking Square's results, the rest split:
    Square gets (2420 // 2) // 300 = 4 inputs, HopSkipJump (2420 - 1210) // 300 = 4 (the budget's cap)."""
    x, y, _ = _digits()
    clf = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), y)
    f, target = _run(lambda b: clf.predict_proba(np.asarray(b).reshape(len(b), -1)), budget=2_500)
    rows = f.artifacts[0].data["rows"]
    assert rows[0][3].endswith("/4") and rows[1][3].endswith("/4 within eps"), rows
    assert f.config["queries"] == target.queries <= 2_500
