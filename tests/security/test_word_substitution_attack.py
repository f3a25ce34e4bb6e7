"""The registered word-substitution attack on a tiny BERT (tests/conftest.py::tiny_bert) that calls a
text positive exactly when it holds a trigger word: both ways.

- Leak side: a positive text turns negative when its one trigger word is swapped for any of the 295
  plain words (checked: all of 55 tried), so every positive the model gets right is flippable with one
  swap (the 25% word budget of a six-word text). Most of a trigger's 30 nearest words are plain words
  with the cosine bound relaxed to -1 (a 32-dimensional embedding trained 3 epochs has few neighbours
  above 0.5; the bound is tested on MiniLM in tests/security/test_text.py), and every candidate swap
  is evaluated exactly (n_eval 512 > 6 words x 30): on this one-layer model the first-order ranking
  alone missed the trigger position in most texts (0 of 30 flipped with the default 32), so what is
  tested is the search and the finding. Asserted: at least 80% of the correctly classified positives
  flip, each with exactly one word, the trigger word gone.
- Chance side: negatives have no trigger to remove; a swap can only flip one by inserting a trigger,
  and the search does find that (so negatives are not used for the chance side). The chance side is a
  model that cannot be flipped at all: the classifier's weights zeroed and its bias set to favour label
  0, so every text is "negative" whatever its words: 0 flips among the correctly classified negatives,
  severity INFO.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit import ThreatModel
from mlaudit.attacks import AttackInputs
from mlaudit.data import Dataset
from mlaudit.errors import InputError
from mlaudit.findings import Severity
from mlaudit.registry import get_attack
from mlaudit.threat import Access

pytestmark = pytest.mark.slow


def _target(tiny_bert):
    from mlaudit.targets.huggingface import HuggingFaceTarget

    return HuggingFaceTarget(tiny_bert["path"], num_labels=2, max_length=16)


def _inputs(x, y, access=Access.GRADIENTS):
    d = Dataset(np.array(x, dtype=object), np.asarray(y), ("negative", "positive"), "held-out", "text")
    return AttackInputs(members=d, nonmembers=d, threat_model=ThreatModel(access=access))


def test_trigger_words_swapped_flip_the_positives(tiny_bert):
    t = _target(tiny_bert)
    pos = [s for s, y in zip(tiny_bert["x"], tiny_bert["y"], strict=True) if y == 1][:30]
    attack = get_attack("word-substitution", n_examples=30, min_similarity=-1.0, n_eval=512)
    f = attack.run(t, _inputs(pos, np.ones(len(pos), int)), seed=0)
    n_ok = round(f.metrics["clean_accuracy"].value * len(pos))
    assert n_ok >= 25  # the tiny model learned the rule
    assert f.metrics["success_rate"].value >= 0.8 and f.severity == Severity.HIGH
    (table,) = [a for a in f.artifacts if a.kind == "table"]
    for original, adversarial, label, changed in table.data["rows"]:
        assert label == 1 and changed == 1
        assert not set(adversarial.split()) & tiny_bert["triggers"]  # the trigger word is gone
        assert len(set(original.split()) ^ set(adversarial.split())) <= 2
    # the same result without gradients access: a weight holder's figure, at most LOW
    g = attack.run(t, _inputs(pos, np.ones(len(pos), int), access=Access.PROBABILITIES), seed=0)
    assert g.metrics["success_rate"].value == f.metrics["success_rate"].value and g.severity == Severity.LOW


def test_a_model_no_swap_can_flip_reports_zero(tiny_bert):
    t = _target(tiny_bert)
    with torch.no_grad():
        t.model.classifier.weight.zero_()
        t.model.classifier.bias.copy_(torch.tensor([5.0, -5.0]))
    neg = [s for s, y in zip(tiny_bert["x"], tiny_bert["y"], strict=True) if y == 0][:20]
    f = get_attack("word-substitution", n_examples=20, min_similarity=-1.0).run(
        t, _inputs(neg, np.zeros(len(neg), int)), seed=0
    )
    assert f.metrics["clean_accuracy"].value == 1.0
    assert f.metrics["success_rate"].value == 0.0 and f.severity == Severity.INFO
    assert f.metrics["success_rate"].ci_high < 0.17  # Clopper-Pearson upper bound for 0 of 20


def test_a_tokenizer_without_wordpiece_is_refused(tiny_bert):
    from mlaudit.attacks.evasion.word_substitution import check_wordpiece

    class Bpe:
        def get_vocab(self):
            return {"Ġhello": 0, "world": 1}

    with pytest.raises(InputError, match="WordPiece"):
        check_wordpiece(Bpe())
    check_wordpiece(_target(tiny_bert).tokenizer)  # BERT's has "##" pieces
