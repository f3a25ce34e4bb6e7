"""The LOSS attack both ways: it finds the leak of an overfit target and reports chance where there is none."""

import numpy as np
import pytest

from mlaudit import Access, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.attacks.membership import LOSS, loss_scores
from mlaudit.findings import Severity
from mlaudit.metrics import mann_whitney_null_sigma


def test_loss_scores_are_log_probability_of_the_label():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    np.testing.assert_allclose(loss_scores(p, np.array([0, 0])), np.log([0.9, 0.2]))


def test_finds_the_leak_of_a_memorising_model(memorizer, random_labels):
    """An MLP that memorised 200 random labels: members have near-zero loss, non-members are right
    only by chance (1 in 10), so about 90% of non-members have a large loss and the AUC is near 0.95.
    We ask for AUC > 0.8 (the style guide's overfit bar), which is 10 null sigmas
    (sigma = sqrt(401 / (12 * 200 * 200)) = 0.029) above chance, and a high severity."""
    tm = ThreatModel(access=Access.PROBABILITIES)
    f = LOSS().run(
        memorizer.restricted(tm), AttackInputs(random_labels["members"], random_labels["nonmembers"]), seed=0
    )
    assert f.metrics["auc"].value > 0.8
    assert f.metrics["auc"].ci_low > 0.5 + 4 * mann_whitney_null_sigma(200, 200)
    assert f.severity >= Severity.MEDIUM
    assert f.config["queries"] == 400


def test_finds_the_milder_leak_of_an_overfit_digits_model(overfit_target, digits_split):
    """Zero training loss on 200 real digits, but ~90% test accuracy: a milder leak. Its AUC must still
    exceed chance by 3 null sigmas (0.087 for n = 200 + 200); measured 0.608 at seed 0."""
    tm = ThreatModel(access=Access.PROBABILITIES)
    f = LOSS().run(
        overfit_target.restricted(tm), AttackInputs(digits_split["members"], digits_split["nonmembers"]), seed=0
    )
    assert f.metrics["auc"].value > 0.5 + 3 * mann_whitney_null_sigma(200, 200)


def test_reports_chance_on_two_non_member_sets(overfit_target, digits_split):
    """Two disjoint non-member sets (300 each) drawn from the same distribution: under H0 the AUC is
    0.5 with Mann-Whitney null sigma sqrt((n1 + n2 + 1) / (12 n1 n2)) = 0.0236, so 4 sigma bounds a
    false alarm at about 6e-5."""
    tm = ThreatModel(access=Access.PROBABILITIES)
    a, b = digits_split["control_a"], digits_split["control_b"]
    f = LOSS().run(overfit_target.restricted(tm), AttackInputs(a, b), seed=0)
    sigma = mann_whitney_null_sigma(len(a), len(b))
    assert abs(f.metrics["auc"].value - 0.5) < 4 * sigma
    assert f.severity == Severity.INFO


@pytest.mark.parametrize("name", ["label-only", "gradient-norm"])
def test_label_only_and_white_box_find_the_leak(memorizer, random_labels, name):
    """Same memorising target as above: perturbed labels and gradient norms separate members far
    beyond chance (AUC > 0.8; 4 null sigmas is 0.116 above 0.5 for 200 + 200)."""
    from mlaudit.registry import get_attack

    attack = get_attack(name)
    tm = ThreatModel(access=attack.requires.access)
    f = attack.run(
        memorizer.restricted(tm), AttackInputs(random_labels["members"], random_labels["nonmembers"]), seed=0
    )
    assert f.metrics["auc"].value > 0.8


@pytest.mark.parametrize("name", ["label-only", "gradient-norm"])
def test_label_only_and_white_box_chance_on_non_members(overfit_target, digits_split, name):
    """Two disjoint non-member sets of 300: AUC within 0.5 +- 4 sigma (sigma = 0.0236)."""
    from mlaudit.registry import get_attack

    attack = get_attack(name)
    a, b = digits_split["control_a"], digits_split["control_b"]
    f = attack.run(overfit_target.restricted(ThreatModel(access=attack.requires.access)), AttackInputs(a, b), seed=0)
    assert abs(f.metrics["auc"].value - 0.5) < 4 * mann_whitney_null_sigma(len(a), len(b))
