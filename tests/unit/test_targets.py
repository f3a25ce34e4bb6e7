import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from mlaudit import Access, QueryBudgetExceeded, ThreatModel, ThreatModelError
from mlaudit.data import breast_cancer
from mlaudit.models import MLP
from mlaudit.targets import CallableTarget, SklearnTarget, TorchTarget, UnsupportedAccess


@pytest.fixture
def torch_target():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TorchTarget(MLP(in_features=4, num_classes=3, hidden=(8,)), num_classes=3)


def test_probabilities_are_softmax_of_logits_and_queries_counted(torch_target):
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    z = torch_target.logits(x)
    p = torch_target.probabilities(x)
    np.testing.assert_allclose(p, torch.softmax(torch.as_tensor(z), 1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(torch_target.labels(x), p.argmax(1))
    assert torch_target.queries == 15


def test_restricted_view_enforces_access_and_budget(torch_target):
    x = np.zeros((4, 4), np.float32)
    view = torch_target.restricted(ThreatModel(access=Access.LABELS, query_budget=6))
    assert view.labels(x).shape == (4,)
    with pytest.raises(ThreatModelError, match="grants labels access, not probabilities"):
        view.probabilities(x)
    with pytest.raises(QueryBudgetExceeded, match="query budget of 6 exceeded"):
        view.labels(x)
    assert torch_target.queries == 0  # the owner's handle is not charged for the adversary's queries


def test_gradients_and_weights(torch_target):
    x = np.ones((2, 4), np.float32)
    g = torch_target.gradients(x, np.array([0, 1]))
    assert g.shape == (2, 4) and np.abs(g).sum() > 0
    w = torch_target.weights()
    assert set(w) == set(torch_target.module.state_dict())


def test_sklearn_target_probabilities_and_no_gradients():
    d = breast_cancer()
    est = LogisticRegression(max_iter=500).fit(d.x, d.y)
    t = SklearnTarget(est)
    np.testing.assert_allclose(t.probabilities(d.x[:10]), est.predict_proba(d.x[:10]))
    with pytest.raises(UnsupportedAccess, match="at most logits, not gradients"):
        t.gradients(d.x[:2], d.y[:2])


def test_sklearn_target_refuses_unfitted():
    with pytest.raises(Exception, match="not fitted"):
        SklearnTarget(LogisticRegression())


def test_callable_labels_only():
    t = CallableTarget(lambda x: np.zeros(len(x), int), output="labels", num_classes=2)
    assert t.labels([1, 2, 3]).tolist() == [0, 0, 0]
    with pytest.raises(UnsupportedAccess, match="at most labels, not probabilities"):
        t.probabilities([1])


def test_callable_checks_output_shape():
    t = CallableTarget(lambda x: np.zeros((len(x), 3)), output="probabilities", num_classes=2)
    with pytest.raises(Exception, match=r"returned shape \(1, 3\) for 1 inputs; expected \(1, 2\)"):
        t.probabilities([0])
