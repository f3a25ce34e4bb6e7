"""The library's one call shape: run_attack(name, model, inputs, seed=...) takes a plain torch module, a
fitted scikit-learn classifier or a numpy function as well as a Target, and the attack still sees only a
restricted view (counted queries, enforced budget, refused access); bad models and arrays in place of a
Dataset are InputErrors that name the fix."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from mlaudit import Access, AttackInputs, Dataset, ThreatModel, as_target, run_attack
from mlaudit.errors import InputError, QueryBudgetExceeded
from mlaudit.models import MLP
from mlaudit.targets import CallableTarget, SklearnTarget, TorchTarget
from mlaudit.targets.base import UnsupportedAccess


def _data(digits_split):
    return AttackInputs(digits_split["members"], digits_split["nonmembers"])


def test_a_plain_module_is_wrapped_and_queries_are_counted(digits_split, overfit_target):
    f = run_attack("loss", overfit_target.module, _data(digits_split), seed=0, num_classes=10)
    g = run_attack("loss", overfit_target, _data(digits_split), seed=0)
    assert f.metrics["auc"].value == g.metrics["auc"].value > 0.6  # the same attack through either entry
    n = len(digits_split["members"]) + len(digits_split["nonmembers"])
    with pytest.raises(QueryBudgetExceeded):  # the budget binds a wrapped module too
        tm = ThreatModel(access=Access.PROBABILITIES, query_budget=n - 1)
        run_attack("loss", overfit_target.module, _data(digits_split), seed=0, num_classes=10, threat_model=tm)


def test_labels_only_function_cannot_serve_a_score_attack(digits_split, overfit_target):
    def labels(x):
        return overfit_target.module(torch.as_tensor(x, dtype=torch.float32)).argmax(1).numpy()

    assert isinstance(as_target(labels, num_classes=10, output="labels"), CallableTarget)
    with pytest.raises(UnsupportedAccess):
        run_attack("loss", as_target(labels, num_classes=10, output="labels"), _data(digits_split), seed=0)


def test_sklearn_and_bad_inputs(digits_split):
    m, n = digits_split["members"], digits_split["nonmembers"]
    flat = AttackInputs(*(Dataset(d.x.reshape(len(d), -1), d.y, d.classes, d.name, "tabular") for d in (m, n)))
    clf = LogisticRegression(max_iter=200).fit(flat.members.x, m.y)
    assert isinstance(as_target(clf), SklearnTarget)
    assert isinstance(as_target(MLP(in_features=64, num_classes=10), num_classes=10), TorchTarget)
    with pytest.raises(InputError, match="num_classes=None"):
        as_target(MLP(in_features=64, num_classes=10))
    with pytest.raises(InputError, match="cannot audit a str"):
        as_target("model.pt")
    with pytest.raises(InputError, match="must be an mlaudit Dataset, got ndarray"):
        AttackInputs(m.x, digits_split["nonmembers"])
    assert np.isfinite(run_attack("loss", clf, flat, seed=0).metrics["auc"].value)
