"""The decision-boundary (label-only) and Nasr white-box attacks, both ways: they find the
leak of a memorising model and report chance on two disjoint non-member sets (AUC within
0.5 +- 4 sigma, sigma the Mann-Whitney null std: 0.0289 for 200 + 200, 0.0236 for 300 + 300)."""

import numpy as np
import pytest

from mlaudit import ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.data import Dataset
from mlaudit.metrics import mann_whitney_null_sigma
from mlaudit.registry import get_attack


@pytest.fixture(scope="module")
def random_population():
    """More Gaussian inputs with random labels, drawn like the memoriser's data but never trained on."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 32)).astype(np.float32)
    return Dataset(x, rng.integers(0, 10, 600), tuple(map(str, range(10))), "random-population", "tabular")


@pytest.mark.parametrize("name", ["boundary-distance", "white-box"])
def test_finds_the_leak_of_a_memoriser(memorizer, random_labels, random_population, name):
    """AUC > 0.8, far beyond the 0.5 + 4 x 0.0289 = 0.616 that chance reaches rarely."""
    attack = get_attack(name)
    inputs = AttackInputs(random_labels["members"], random_labels["nonmembers"], random_population)
    f = attack.run(memorizer.restricted(ThreatModel(access=attack.requires.access)), inputs, seed=0)
    assert f.metrics["auc"].value > 0.8, f.metrics["auc"]


@pytest.mark.parametrize("name", ["boundary-distance", "white-box"])
def test_chance_on_two_non_member_sets(overfit_target, digits_split, name):
    attack = get_attack(name)
    a, b = digits_split["control_a"], digits_split["control_b"]
    inputs = AttackInputs(a, b, digits_split["nonmembers"])
    f = attack.run(overfit_target.restricted(ThreatModel(access=attack.requires.access)), inputs, seed=0)
    assert abs(f.metrics["auc"].value - 0.5) < 4 * mann_whitney_null_sigma(len(a), len(b)), f.metrics["auc"]


def test_boundary_distance_finds_the_milder_leak_of_an_overfit_digits_model(overfit_target, digits_split):
    """Real images that generalise well: members still sit further from the boundary, beyond
    0.5 + 4 sigma (sigma = 0.0289 for 200 + 200)."""
    attack = get_attack("boundary-distance")
    m, n = digits_split["members"], digits_split["nonmembers"]
    f = attack.run(overfit_target.restricted(ThreatModel(access=attack.requires.access)), AttackInputs(m, n), seed=0)
    assert f.metrics["auc"].value > 0.5 + 4 * mann_whitney_null_sigma(len(m), len(n)), f.metrics["auc"]


def test_boundary_distance_spends_at_most_its_query_budget(overfit_target, digits_split):
    """Per example: one label query to check it, at most max_queries in HopSkipJump, one to confirm."""
    attack = get_attack("boundary-distance", max_queries=50)
    m, n = digits_split["control_a"].subset(np.arange(20)), digits_split["control_b"].subset(np.arange(20))
    view = overfit_target.restricted(ThreatModel(access=attack.requires.access))
    attack.run(view, AttackInputs(m, n), seed=0)
    assert view.queries <= 40 * (50 + 2)


def test_white_box_scores_each_example_with_a_model_that_never_saw_it():
    """Cross-fitting: features of a member never enter the attack model that scores it, so a leak
    in the evaluation would show as signal on pure noise features (none here: AUC at chance)."""
    from mlaudit.attacks.membership.whitebox import cross_fit_scores

    rng = np.random.default_rng(0)
    f_in, f_out = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
    s_in, s_out = cross_fit_scores(f_in, f_out, rng=rng)
    from mlaudit.metrics import auc

    assert abs(auc(s_in, s_out) - 0.5) < 4 * mann_whitney_null_sigma(300, 300)
