"""The reference-model machinery of issue 16, item 8: complementary halves, LiRA's variance for few
references, RMIA's tie-breaking, per-example scores in the finding, and the reference-draw spread."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mlaudit import metrics as M
from mlaudit.attacks.membership.evaluate import reference_draw
from mlaudit.attacks.membership.lira import _trigamma_inverse, lira_offline, moderated, resolve_variance, variance_prior
from mlaudit.attacks.membership.rmia import rmia_scores
from mlaudit.models import MLP, TrainConfig
from mlaudit.scenarios.references import draw_subsets, train_references


@pytest.mark.parametrize(("n_pool", "k"), [(10, 4), (11, 4), (11, 8), (9, 2)])
def test_complementary_halves_put_every_example_in_exactly_half(n_pool, k):
    pool = np.arange(100, 100 + n_pool)
    subsets = draw_subsets(pool, n_train=3, n_models=k, halves=True, rng=np.random.default_rng(0))
    keep = np.stack([np.isin(pool, s) for s in subsets])
    assert (keep.sum(0) == k // 2).all()  # IN for exactly half, OUT for the other half
    assert sorted({len(s) for s in subsets}) == sorted({n_pool // 2, n_pool - n_pool // 2})
    for j in range(0, k, 2):  # pairs split one permutation
        assert not np.intersect1d(subsets[j], subsets[j + 1]).size
        assert np.array_equal(np.union1d(subsets[j], subsets[j + 1]), pool)


def test_odd_number_of_references_is_within_one_of_half():
    pool = np.arange(20)
    subsets = draw_subsets(pool, n_train=3, n_models=5, halves=True, rng=np.random.default_rng(1))
    counts = np.stack([np.isin(pool, s) for s in subsets]).sum(0)
    assert set(counts.tolist()) <= {2, 3}


def test_random_subsets_keep_their_size():
    subsets = draw_subsets(np.arange(50), n_train=7, n_models=3, halves=False, rng=np.random.default_rng(2))
    assert [len(s) for s in subsets] == [7, 7, 7]


def test_stacked_mlp_references_train_on_halves_of_an_odd_pool():
    """Two subset sizes (5 and 6): the stacked ensemble trains one group per size; keep matches."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(11, 4)).astype(np.float32), rng.integers(0, 2, 11)

    def make(seed):
        torch.manual_seed(seed)
        return MLP(in_features=4, num_classes=2, hidden=(3,))

    models, keep = train_references(
        make, x, y, np.arange(11), n_train=5, n_models=4, halves=True, config=TrainConfig(epochs=1, batch_size=4),
        seed=0, cache=None, key="odd",
    )  # fmt: skip
    assert len(models) == 4 and (keep.sum(0) == 2).all()


def test_rmia_count_is_the_integer_part_and_ties_follow_the_ratio():
    """Hand-computed: the references' prior is 0.5 everywhere, so p_x = (0.2, 0.3, 0.9) gives ratios
    (0.4, 0.6, 1.8) and p_z = (0.1, 0.5) gives (0.2, 1.0). Counts of z with ratio_z <= ratio_x: (1, 1, 2);
    tie-break ranks among the x: (0, 1/3, 2/3); scores ((1 + 0) / 2, (1 + 1/3) / 2, (2 + 2/3) / 2)."""
    p_x, p_z = np.array([0.2, 0.3, 0.9]), np.array([0.1, 0.5])
    s = rmia_scores(p_x, np.full((2, 3), 0.5), p_z, np.full((2, 2), 0.5))
    np.testing.assert_allclose(s, [0.5, 2 / 3, 4 / 3])
    assert np.floor(s * 2).tolist() == [1, 1, 2]  # the paper's count is kept


def test_rmia_top_count_ties_no_longer_leave_low_fpr_to_chance():
    """Every audited example dominates the whole (small) population: the paper's score ties them all
    (AUC exactly 0.5); the tie-broken one orders them by the ratio, which separates members (0.9)
    from non-members (0.6) completely."""
    p_x = np.r_[np.full(50, 0.9), np.full(50, 0.6)] + np.linspace(0, 1e-3, 100)
    refs_x, p_z, refs_z = np.full((4, 100), 0.5), np.full(20, 0.2), np.full((4, 20), 0.5)
    s = rmia_scores(p_x, refs_x, p_z, refs_z)
    count = np.floor(s * 20)
    assert (count == 20).all()  # one shared top count
    assert roc_auc_score(np.r_[np.ones(50), np.zeros(50)], count) == 0.5
    assert roc_auc_score(np.r_[np.ones(50), np.zeros(50)], s) == 1.0


def test_lira_variance_auto():
    assert resolve_variance("auto", online=True, k=8) == "moderated"
    assert resolve_variance("auto", online=False, k=2) == "global"
    assert resolve_variance("auto", online=False, k=64) == "per-example"
    assert resolve_variance("per-example", online=False, k=2) == "per-example"


@pytest.mark.parametrize("y", [0.05, 0.7, 2.5, 30.0, 900.0])
def test_trigamma_inverse_inverts_scipy_trigamma(y):
    from scipy.special import polygamma

    assert _trigamma_inverse(float(polygamma(1, y))) == pytest.approx(y, rel=1e-6)


def _simulated_variances(n, d, d0, s0, rng):
    """True variances from the scaled inverse chi-square prior (d0, s0^2); sample variances on d dof."""
    true = d0 * s0 / rng.chisquare(d0, size=n)
    return true, true * rng.chisquare(d, size=n) / d


def test_variance_prior_recovers_the_simulated_prior():
    """Smyth's moment estimator on 200,000 simulated examples (d = 6, the pooled dof of 8 references;
    d0 = 5, s0^2 = 2). Tolerance: var(log s^2) is about 0.9, so its sample variance has a standard error
    near 0.9 * sqrt(2 / 200,000) * 1.5 (the log chi-square's kurtosis) = 0.004; through trigamma's
    slope at d0 / 2 (about -0.23) that is +-0.04 on d0 (0.8%); 5% is several standard errors."""
    rng = np.random.default_rng(0)
    _, s2 = _simulated_variances(200_000, 6, 5.0, 2.0, rng)
    d0, s0 = variance_prior(s2, 6)
    assert d0 == pytest.approx(5.0, rel=0.05)
    assert s0 == pytest.approx(2.0, rel=0.05)


def test_variance_prior_is_infinite_when_variances_spread_only_by_chance():
    """One true variance for all: log s^2 varies by trigamma(d / 2) alone, the excess is ~0 and half
    the time negative; a no-spread prior (d0 = inf) makes the moderated variance the global one."""
    rng = np.random.default_rng(1)
    s2 = 3.0 * rng.chisquare(6, size=50_000) / 6
    s2[: len(s2) // 2] = 3.0  # exactly equal halves push the spread below chance
    d0, s0 = variance_prior(s2, 6)
    assert d0 == np.inf
    out = moderated(s2, np.full(len(s2), 6))
    assert np.ptp(out) == 0.0 and out[0] == pytest.approx(s0)


def test_moderated_variance_is_closer_to_the_truth_than_either_extreme():
    """Empirical Bayes' point: with d = 6 the shrunk variance has a smaller mean squared log error
    against the true variance than the example's own s^2 and than one global variance (d0 = 5)."""
    rng = np.random.default_rng(2)
    true, s2 = _simulated_variances(20_000, 6, 5.0, 2.0, rng)
    dof = np.full(len(s2), 6)
    shrunk = moderated(s2, dof)

    def err(v):
        return float(np.mean(np.log(v / true) ** 2))

    assert err(shrunk) < 0.8 * err(s2)
    assert err(shrunk) < 0.8 * err(np.full(len(s2), s2.mean()))
    # examples with no degrees of freedom of their own take the prior's scale
    dof[:10] = 0
    assert np.allclose(moderated(s2, dof)[:10], variance_prior(s2[10:], 6)[1])


def test_offline_lira_with_two_references_needs_the_global_variance():
    """Simulated phi: example i has its own OUT mean mu_i ~ N(0, 2^2), unit noise; members sit 2 higher.
    With 2 OUT references a per-example variance rests on one degree of freedom: a chi-square(1)
    variance is below 0.0016 times its mean with probability 3.2%, so a few non-members get huge
    scores and TPR at 1% FPR collapses; the global variance does not have that tail. The assertion is
    that the two Clopper-Pearson 95% intervals (5,000 members each) do not overlap."""
    rng = np.random.default_rng(0)
    n, k = 5000, 2
    mu = rng.normal(0, 2, size=2 * n)
    refs = mu + rng.normal(size=(k, 2 * n))
    target = mu + rng.normal(size=2 * n) + np.r_[np.full(n, 2.0), np.zeros(n)]
    per_example = lira_offline(target, refs, variance="per-example")
    fixed = lira_offline(target, refs, variance=resolve_variance("auto", online=False, k=k))
    t_pe = M.tpr_at_fpr(per_example[:n], per_example[n:], 0.01)
    t_g = M.tpr_at_fpr(fixed[:n], fixed[n:], 0.01)
    assert t_g.low > t_pe.high, (t_g, t_pe)


def test_reference_draw_spread():
    """A score that ignores the references has no spread: median = low = high = the TPR computed by
    hand; a score that is one reference's noise has a wide one; one reference gives nothing."""
    rng = np.random.default_rng(0)
    fixed = np.r_[rng.normal(1, 1, 500), rng.normal(0, 1, 500)]
    d = reference_draw(lambda used: fixed, 4, 500, seed=0)
    m = d["tpr_at_0.01_fpr_over_reference_draws"]
    thr = np.sort(fixed[500:])[-6]  # 5 of 500 non-members above it (1% FPR)
    assert m.value == m.ci_low == m.ci_high == pytest.approx(float((fixed[:500] > thr).mean()))
    noise = rng.normal(size=(4, 1000))
    d = reference_draw(lambda used: noise[used].mean(0), 4, 500, seed=0)
    assert d["auc_over_reference_draws"].ci_high - d["auc_over_reference_draws"].ci_low > 0.02
    assert reference_draw(lambda used: fixed, 1, 500, seed=0) == {}


def test_logit_confidence_keeps_its_resolution_for_confident_outputs():
    """phi = log p_y - log sum_{j != y} p_j, computed by hand: logits (40, 0, 0) give
    p_y = 1 / (1 + 2e-40) and the rest 2e-40 / (1 + 2e-40), so phi = 40 - log 2 exactly. Taking the
    rest as 1 - p_y (or sum(p) - p_y) rounds it to 0 in float64 (2e-40 is far below 1e-16) and
    phi saturates at 690.8 for every confident example, which made LiRA's variance 0 and its
    scores 2e17 (the quick Fashion-MNIST audit)."""
    from mlaudit.attacks.membership.signals import logit_confidence, softmax

    p = softmax(np.array([[40.0, 0.0, 0.0], [0.0, 3.0, 1.0]]))
    phi = logit_confidence(p, np.array([0, 2]))
    assert phi[0] == pytest.approx(40.0 - np.log(2.0), abs=1e-9)
    assert phi[1] == pytest.approx(1.0 - np.log(1.0 + np.exp(3.0)), abs=1e-12)
    # batched references (K, N, C) keep the same per-example values
    both = logit_confidence(np.stack([p, p]), np.array([0, 2]))
    np.testing.assert_allclose(both, np.stack([phi, phi]), rtol=0, atol=0)
