"""Canary exposure (The Secret Sharer) on a small character-level GPT trained here on the King James
Bible (the first 50,000 characters) with Faker SSN canaries inserted 1, 2, 4, 10 and 20 times, and
three secrets of the same format never inserted. Both ways: the secret inserted 10 times comes close
to the maximal exposure log2(10^9) = 29.9 bits (measured 28.2), the never-inserted ones look like
chance (a uniform rank gives -log2 U, mean 1.44 bits; measured 0.1 to 0.3), and exposure grows with
the number of insertions. The finding plots exposure against insertions and validates against the
report schema."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest
import torch

from mlaudit.attacks.memorization.exposure import (
    SSN_PREFIX,
    SSN_SPACE_BITS,
    exposure_finding,
    exposures,
)
from mlaudit.models.gpt import log_perplexity

pytestmark = pytest.mark.skipif(shutil.which("bible") is None, reason="apt-get install bible-kjv")
COUNTS = [0, 0, 0, 1, 2, 4, 10, 20]


@pytest.fixture(scope="module")
def trained():
    """The model, its vocabulary, the training text and the canaries with their insertion counts: the
    full profile's demonstration (attacks.memorization.demo.canary_world), trained here without a cache."""
    from mlaudit.attacks.memorization.demo import canary_world

    w = canary_world(seed=0, cache=None)
    assert tuple(w.canaries.values()) == tuple(COUNTS)
    return w.model, w.vocab, w.text, w.canaries


@pytest.fixture(scope="module")
def results(trained):
    model, vocab, _, canaries = trained
    prefix = vocab.encode(SSN_PREFIX)

    def score(secrets):
        return log_perplexity(model, prefix, np.stack([vocab.encode(s) for s in secrets]))

    return exposures(score, canaries, n_samples=5000, rng=np.random.default_rng(1))


def test_ten_insertions_come_close_to_maximal_exposure(results):
    ten = next(r for r in results if r.insertions == 10)
    assert ten.exposure > 0.85 * SSN_SPACE_BITS, ten
    assert ten.empirical_rank == 1  # below every one of the 5,000 sampled candidates


def test_never_inserted_secrets_look_like_chance(results):
    """Each control's exposure -log2 U with U uniform exceeds 6 bits with probability 1/64; their mean
    of three stays below 4 bits."""
    controls = [r.exposure for r in results if r.insertions == 0]
    assert len(controls) == 3 and max(controls) < 6 and np.mean(controls) < 4, controls


def test_exposure_grows_with_insertions(results):
    mean = {k: np.mean([r.exposure for r in results if r.insertions == k]) for k in sorted(set(COUNTS))}
    ks = sorted(mean)
    assert all(mean[a] <= mean[b] + 1.0 for a, b in itertools.pairwise(ks)), mean  # 1 bit of slack between neighbours
    assert mean[20] - mean[0] > 20


def test_finding_plots_exposure_against_insertions_and_fits_the_schema(results):
    import json

    from mlaudit.findings import Report
    from mlaudit.report.json import to_json, validate

    f = exposure_finding(results, model="char GPT", seed=0, threat_model={})
    curve = next(a for a in f.artifacts if a.kind == "curve")
    assert curve.data["x"] == [0, 1, 2, 4, 10, 20]
    assert f.severity.name == "HIGH"
    tm = {"access": "probabilities", "query_budget": None, "knowledge": [], "asset": "training_data"}
    f = exposure_finding(results, model="char GPT", seed=0, threat_model=tm)
    report = Report(
        "0",
        "2026-01-01T00:00:00+00:00",
        {"name": "gpt", "adapter": "x", "num_classes": 60, "kind": "torch"},
        tm,
        {"seed": 0},
        (f,),
        {},
    )
    validate(json.loads(to_json(report)))


def test_extraction_recovers_the_most_inserted_secrets_verbatim(trained):
    """1,000 unprompted generations (top-k 10), ranked by the zlib ratio: the secret inserted 20 times
    comes back verbatim near the top (measured rank 2, after the bare prefix line, itself verbatim
    training text); every secret that comes back was inserted; precision among the top 100 (share
    verbatim in the training text) is reported (measured 0.02: the rest are garbled SSN lines and
    Bible fragments the small model does not reproduce exactly)."""
    from mlaudit.attacks.memorization.extraction import (
        precision_at,
        rank_generations,
        recovered_secrets,
        sample_lines,
    )
    from mlaudit.models.gpt import text_bits

    model, vocab, text, canaries = trained
    gens = sample_lines(model, vocab, n=1000, length=46, top_k=10, generator=torch.Generator().manual_seed(2))
    ranked = rank_generations(gens, lambda ts: text_bits(model, vocab, ts), text, metric="zlib")
    found = recovered_secrets(ranked, list(canaries))
    assert {canaries[s] for s in found} >= {20} and all(canaries[s] > 0 for s in found), found
    first = next(i for i, e in enumerate(ranked) if set(e.pii) & set(found))
    assert first < 5 and ranked[first].verbatim, first
    p100 = precision_at(ranked, 100)
    assert 0.0 < p100 <= 1.0
