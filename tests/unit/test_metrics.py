import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mlaudit import metrics as M


def test_auc_parity_with_mann_whitney_and_sklearn(rng):
    pos, neg = rng.normal(0.5, 1, 300), rng.normal(0, 1, 400)
    u = stats.mannwhitneyu(pos, neg).statistic
    assert M.auc(pos, neg) == pytest.approx(u / (300 * 400), abs=1e-12)
    y = np.r_[np.ones(300), np.zeros(400)]
    assert M.auc(pos, neg) == pytest.approx(roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)
    # heavy ties (scores on a grid of 5 values) and unequal sizes: ties count 1/2 as in scikit-learn
    tp, tn = rng.integers(0, 5, 37).astype(float), rng.integers(0, 4, 1000).astype(float)
    y = np.r_[np.ones(37), np.zeros(1000)]
    assert M.auc(tp, tn) == pytest.approx(roc_auc_score(y, np.r_[tp, tn]), abs=1e-12)
    assert M.auc(np.ones(3), np.ones(4)) == 0.5 and M.auc(np.ones(2), np.zeros(2)) == 1.0


def test_null_sigma_matches_simulation(rng):
    """Std of AUC over 2000 null draws (n1=n2=50): the analytic value is 0.0577; the sample std of
    2000 draws has relative standard error 1/sqrt(2*1999) = 1.6%, so 8% is 5 standard errors."""
    # AUC = U / (n1 n2), U from scipy's Mann-Whitney test, vectorised over the 2000 draws
    aucs = stats.mannwhitneyu(rng.normal(size=(2000, 50)), rng.normal(size=(2000, 50)), axis=1).statistic / 2500
    assert np.std(aucs) == pytest.approx(M.mann_whitney_null_sigma(50, 50), rel=0.08)
    assert M.mann_whitney_null_sigma(50, 50) == pytest.approx(math.sqrt(101 / (12 * 2500)))


def test_clopper_pearson_closed_forms():
    # k = 0: upper bound 1 - (alpha/2)^(1/n); k = n: lower bound (alpha/2)^(1/n)
    lo, hi = M.clopper_pearson(0, 20)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 20))
    lo, hi = M.clopper_pearson(20, 20)
    assert hi == 1 and lo == pytest.approx(0.025 ** (1 / 20))
    lo, hi = M.clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, abs=1e-5) and hi == pytest.approx(0.812914, abs=1e-5)


def test_tpr_at_fpr_respects_the_fpr_bound():
    neg = np.arange(1000, dtype=float)  # scores 0..999
    pos = np.array([998.5, 990.5, 500.0, 1000.5])
    # 1% of 1000 negatives = 10 allowed false positives: threshold is the 11th largest negative (989)
    t = M.tpr_at_fpr(pos, neg, 0.01)
    assert t.value == pytest.approx(3 / 4)
    assert t.low < 0.75 < t.high
    # 0.1%: one false positive allowed, threshold 998 -> 998.5 and 1000.5 pass
    assert M.tpr_at_fpr(pos, neg, 0.001).value == pytest.approx(2 / 4)
    assert M.tpr_at_fpr(pos, neg, 0.0).value == pytest.approx(1 / 4)


def test_roc_and_advantage_perfect_separation():
    pos, neg = np.array([2.0, 3.0]), np.array([0.0, 1.0])
    fpr, tpr, _ = M.roc(pos, neg)
    assert fpr[0] == 0 and tpr[-1] == 1
    assert M.advantage(pos, neg) == 1.0
    assert M.auc_interval(pos, neg).value == 1.0


@pytest.mark.parametrize("bad", [np.array([]), np.array([np.nan])])
def test_bad_scores_are_refused(bad):
    with pytest.raises(ValueError, match="score"):
        M.auc(bad, np.array([1.0]))
