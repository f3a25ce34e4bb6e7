"""The extraction ranking metrics on hand-made scores (no model): what each metric puts first."""

import numpy as np
import pytest

from mlaudit.attacks.memorization.extraction import precision_at, rank_generations, recovered_secrets

TRAIN = "in the beginning god created the heaven and the earth\nmy social security number is 723-78-2408\n"
GENS = [
    "in the beginning god created the heaven",  # verbatim, generic text
    "my social security number is 723-78-2408",  # verbatim, a secret
    "zq zq zq zq zq zq zq zq zq zq zq zq",  # repetitive garbage: low perplexity, compresses well
    "short",  # under min_chars: dropped
]
BITS = {GENS[0]: 40.0, GENS[1]: 20.0, GENS[2]: 10.0}  # the audited model's log-perplexity (bits)
REF = {GENS[0]: 38.0, GENS[1]: 120.0, GENS[2]: 12.0}  # a reference model that never saw the secret


def _score(table):
    return lambda texts: np.array([table[t] for t in texts])


def test_perplexity_puts_the_repetitive_garbage_first_and_the_reference_puts_the_secret_first():
    by_ppl = rank_generations(GENS, _score(BITS), TRAIN, metric="perplexity")
    assert [e.text for e in by_ppl][0] == GENS[2] and len(by_ppl) == 3
    by_ref = rank_generations(GENS, _score(BITS), TRAIN, metric="reference", reference=_score(REF))
    assert by_ref[0].text == GENS[1] and by_ref[0].verbatim and by_ref[0].pii == ("723-78-2408",)
    assert recovered_secrets(by_ref, ["723-78-2408", "111-22-3333"]) == ["723-78-2408"]
    assert precision_at(by_ref, 2) == 0.5  # the secret, then the garbage (not training text)


def test_zlib_divides_by_the_compressed_size():
    by_zlib = rank_generations(GENS, _score(BITS), TRAIN, metric="zlib")
    assert {e.text for e in by_zlib} == set(GENS[:3])
    scores = [e.score for e in by_zlib]
    assert scores == sorted(scores)


def test_reference_metric_needs_a_reference_and_unknown_metrics_are_refused():
    with pytest.raises(ValueError, match="needs a reference model"):
        rank_generations(GENS, _score(BITS), TRAIN, metric="reference")
    with pytest.raises(ValueError, match="unknown metric 'lowercase'"):
        rank_generations(GENS, _score(BITS), TRAIN, metric="lowercase")
