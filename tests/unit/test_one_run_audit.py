"""The one-run audit (Steinke, Nasr & Jagielski 2023) against a hand-computed case and a mechanism of
known epsilon: randomised response, where each canary's score tells its membership truly with
probability e^eps / (1 + e^eps), is exactly eps-DP for each canary, so a sound bound stays below eps
(at 95% confidence: over 40 fixed seeds, at most 5 above it; binomial(40, 0.05) exceeds 5 with
probability 1.4%) and a strong audit comes near it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlaudit.defenses.dp.one_run import one_run_audit, p_value
from mlaudit.errors import InputError


def test_ten_right_guesses_of_ten_refute_epsilon_below_1_052():
    """delta 0: p(eps) = q^10, q = e^eps / (1 + e^eps); p <= 0.05 while q <= 0.05^(1/10) = 0.74113,
    i.e. eps <= log(0.74113 / 0.25887) = 1.0519 (by hand)."""
    scores = np.r_[np.arange(5.0), 10 + np.arange(5.0)]
    included = np.r_[np.zeros(5, bool), np.ones(5, bool)]
    audit = one_run_audit(scores, included, k_pos=5, k_neg=5, delta=0.0)
    assert (audit.guesses, audit.correct) == (10, 10)
    assert audit.epsilon == pytest.approx(1.0519, abs=1e-3)
    assert p_value(1.0519, guesses=10, correct=10, canaries=10, delta=0.0) == pytest.approx(0.05, abs=1e-4)


def _randomised_response(eps: float, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    included = rng.random(m) < 0.5
    truthful = rng.random(m) < math.exp(eps) / (1 + math.exp(eps))
    said = np.where(truthful, included, ~included)
    return said + 0.01 * rng.random(m), included  # ties broken at random


def test_the_bound_is_sound_on_a_mechanism_of_known_epsilon():
    above = sum(
        one_run_audit(*_randomised_response(1.0, 2000, seed), k_pos=400, k_neg=400, delta=0.0).epsilon > 1.0
        for seed in range(40)
    )
    assert above <= 5, above


def test_a_strong_audit_comes_near_epsilon_and_delta_only_lowers_it():
    scores, included = _randomised_response(2.0, 10_000, 0)
    pure = one_run_audit(scores, included, k_pos=5000, k_neg=5000, delta=0.0)
    assert 1.8 <= pure.epsilon <= 2.0, pure
    approx = one_run_audit(scores, included, k_pos=5000, k_neg=5000, delta=1e-5)
    assert approx.epsilon <= pure.epsilon


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="guesses must be between 1 and the 4 canaries"):
        one_run_audit(np.zeros(4), np.zeros(4, bool), k_pos=3, k_neg=3, delta=0.0)
    with pytest.raises(InputError, match="boolean array"):
        one_run_audit(np.zeros(4), np.zeros(4), k_pos=1, k_neg=1, delta=0.0)
