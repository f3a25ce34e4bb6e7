"""The full profile's language-model section at its own size (attacks.memorization.demo): SmolLM2-135M
fine-tuned in its top 2 blocks on 80 King James verses with Faker SSNs appended 1, 2, 4, 10 and 20
times, 80 other verses as non-members; the registered LM attacks on it, both ways.

Measured by the section itself (seed 0, 4 epochs, 200 samples, 64 generations): base-reference AUC
1.000; exposure of the secret inserted 20 times 29.9 of 29.9 bits, 10 times 28.3, never-inserted ones
2.1 bits on average over 8; sampled extraction recovered one secret (rank 7). Here with 1,000 samples,
12 never-inserted draws and 100 generations; all six pass (12 minutes beside other work). Make
test-all only (tests/conftest.py HEAVY).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlaudit.attacks.base import AttackInputs
from mlaudit.attacks.membership.lm_reference import LMBaseReference
from mlaudit.attacks.memorization import demo
from mlaudit.attacks.memorization.exposure import SSN, CanaryExposure, exposures, secret_bits
from mlaudit.attacks.memorization.extraction import TrainingDataExtraction
from mlaudit.registry import get_attack

pytestmark = pytest.mark.skipif(
    get_attack("canary-exposure-demo").unmet(AttackInputs()) is not None, reason="needs SmolLM2, KJV and Faker"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return demo.lm_world(seed=0, cache=tmp_path_factory.mktemp("lm-demo"))


@pytest.fixture(scope="module")
def results(world):
    """Exposure of the five inserted secrets and 12 never-inserted draws among 1,000 random SSNs."""
    rng = np.random.default_rng(1)
    canaries = dict(world.canaries)
    while len(canaries) < len(world.canaries) + 12:
        canaries.setdefault(SSN.draw(rng), 0)
    return exposures(lambda s: secret_bits(world.target, SSN.prefix, s), canaries, n_samples=1000, rng=rng)


def test_secrets_inserted_ten_times_or_more_are_exposed(results):
    """Exposure is capped at log2 10^9 = 29.9 bits; 1,000 samples put the empirical rank at 1 for both."""
    by = {r.insertions: r for r in results if r.insertions >= 10}
    assert by[20].exposure >= 25 and by[10].exposure >= 20, by
    assert by[20].empirical_rank == 1 and by[10].empirical_rank == 1


def test_never_inserted_secrets_look_like_chance(results):
    """A never-inserted draw is exchangeable with the samples: its exposure is -log2 U (mean 1.44 bits,
    sd 1.44). The mean of 12 has sd 0.42: below 3 bits unless 3.7 sd out; none over 10 bits (p 1e-3 each)."""
    controls = [r.exposure for r in results if r.insertions == 0]
    assert len(controls) == 12 and np.mean(controls) < 3 and max(controls) < 10, controls


def test_exposure_grows_with_insertions(results):
    mean = {k: np.mean([r.exposure for r in results if r.insertions == k]) for k in sorted({0, *demo.CANARY_COUNTS})}
    ks = sorted(mean)
    assert all(mean[a] <= mean[b] + 3.0 for a, b in itertools.pairwise(ks)), mean  # one secret per count: 3 bits slack
    assert mean[20] - mean[0] > 20


def test_the_base_reference_separates_the_fine_tuning_documents(world):
    f = LMBaseReference().run(world.target, world.inputs, seed=0)
    assert f.metrics["auc"].value > 0.9 and f.metrics["tpr_at_0.01_fpr"].value > 0.5


def test_the_declared_format_is_found_and_ranked_by_the_attack(world):
    f = CanaryExposure(samples=300).run(world.target, world.inputs, seed=0)
    assert f.metrics["highest_exposure"].value >= 25 and f.metrics["mean_exposure_0_insertions"].value < 4


def test_sampled_extraction_recovers_an_inserted_secret(world):
    """100 unprompted generations ranked by the base reference: at least one secret comes back verbatim,
    among them one inserted 10 or 20 times."""
    f = TrainingDataExtraction(generations=100).run(world.target, world.inputs, seed=0)
    rows = next(a for a in f.artifacts if a.title == "Inserted secrets").data["rows"]
    assert f.metrics["secrets_recovered"].value >= 1
    recovered = {r[0] for r in rows if r[2] == "yes"}
    assert recovered and max(world.canaries[s] for s in recovered) >= 10, rows
