"""Poisoning and backdoor detection on Fashion-MNIST MLPs (20,000 training images, about 5 s each).

Both ways: the poisoned model obeys the trigger, the clean model (same seed, same recipe) does not;
the detectors find the poisons in the poisoned set and flag nothing in the clean model.
Tolerances: with 2,000 test images (1,800 non-target), an ASR's binomial standard error is at most
0.012, so the bounds below sit > 4 sigma from the measured values (ASR 0.995, clean model 0.006).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlaudit import InputError
from mlaudit.attacks.poisoning import BadNets, Blended, LabelConsistent, TextTrigger, attack_success_rate
from mlaudit.data import fashion_mnist, fashion_mnist_available
from mlaudit.defenses.backdoor import activation_clustering, neural_cleanse, penultimate, spectral_signatures, strip
from mlaudit.models import MLP, TrainConfig, accuracy, train

needs_fmnist = pytest.mark.skipif(not fashion_mnist_available(), reason="needs dataset-fashion-mnist")
RATE, TARGET = 0.05, 0


def _fit(x, y):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = MLP(in_features=784, num_classes=10, hidden=(256, 128))
    train(m, x, y, TrainConfig(epochs=5, batch_size=128), generator=torch.Generator().manual_seed(0))
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


@pytest.fixture(scope="module")
def fm():
    tr, te = fashion_mnist("train"), fashion_mnist("test")
    return tr.x[:20000], tr.y[:20000], te.x[:2000], te.y[:2000], te.x[3000:3500]


@pytest.fixture(scope="module")
def models(fm):
    x, y, *_ = fm
    bn = BadNets(TARGET)
    p = bn.poison(x, y, RATE, np.random.default_rng(0))
    return {"clean": _fit(x, y), "badnets": _fit(p.x, p.y), "poisoned": p, "trigger": bn}


def _pred(m, x):
    with torch.no_grad():
        return m(torch.as_tensor(x)).argmax(1).numpy()


@needs_fmnist
def test_badnets_plants_a_backdoor_and_the_clean_model_ignores_the_trigger(fm, models):
    x, y, xt, yt, _ = fm
    p, bn = models["poisoned"], models["trigger"]
    assert (
        p.poison_rate == pytest.approx(RATE)
        and (y[p.poison_idx] != TARGET).all()
        and (p.y[p.poison_idx] == TARGET).all()
    )
    assert attack_success_rate(_pred(models["badnets"], bn.apply(xt)), yt, TARGET) >= 0.95
    assert attack_success_rate(_pred(models["clean"], bn.apply(xt)), yt, TARGET) <= 0.05
    assert accuracy(models["badnets"], xt, yt) >= accuracy(models["clean"], xt, yt) - 0.02


@needs_fmnist
def test_blended_and_label_consistent_poisons(fm, models):
    x, y, xt, yt, _ = fm
    rng = np.random.default_rng(1)
    bl = Blended((1, 28, 28), TARGET, alpha=0.2)
    m = _fit(*(lambda p: (p.x, p.y))(bl.poison(x, y, RATE, rng)))
    assert attack_success_rate(_pred(m, bl.apply(xt)), yt, TARGET) >= 0.9
    lc = LabelConsistent(TARGET, eps=0.3)
    p = lc.poison(x, y, 0.05, rng, surrogate=models["clean"])
    assert (p.y == y).all() and (y[p.poison_idx] == TARGET).all()  # clean labels: nothing to spot by label
    assert np.abs(p.x[p.poison_idx] - x[p.poison_idx]).max() <= 1.0
    asr = attack_success_rate(_pred(_fit(p.x, p.y), lc.apply(xt)), yt, TARGET)
    base = attack_success_rate(_pred(models["clean"], lc.apply(xt)), yt, TARGET)
    assert asr > base + 0.05  # measured 0.31 vs 0.01


@needs_fmnist
def test_spectral_signatures_and_activation_clustering_find_the_poisons(models):
    p, bad = models["poisoned"], models["badnets"]
    reps = penultimate(bad, p.x)
    ss = spectral_signatures(reps, p.y)
    # random removal at the same rate would catch ss.removal_rate of the poisons, sd <= 0.016 (n = 1,000)
    assert ss.recall(p.is_poison) >= ss.removal_rate + 4 * 0.016
    ac = activation_clustering(reps, p.y)
    assert TARGET in ac.flagged_classes and ac.recall(p.is_poison) >= 0.8


@needs_fmnist
def test_strip_catches_triggered_inputs_at_low_false_rejection(fm, models):
    x, y, xt, yt, _ = fm
    bad, bn = models["badnets"], models["trigger"]

    def probs(z):
        with torch.no_grad():
            return torch.softmax(bad(torch.as_tensor(z, dtype=torch.float32)), 1).numpy()

    keep = yt != TARGET
    res = strip(probs, xt[:200], bn.apply(xt[keep][200:400]), x[:500], rng=np.random.default_rng(0))
    clean_again = strip(probs, xt[:200], xt[keep][400:600], x[:500], rng=np.random.default_rng(0))
    assert res.flagged.mean() >= 0.3  # measured 0.63
    assert clean_again.flagged.mean() <= 0.06  # boundary at 1% FRR; 200 clean inputs: 4 sigma is about 0.06


@needs_fmnist
def test_neural_cleanse_singles_out_the_target_label_only_in_the_backdoored_model(fm, models):
    """The backdoored model's target label needs the smallest trigger by far and has the largest anomaly
    index; in the clean model the same label is unremarkable. (Fashion-MNIST's "bag" has a small natural
    trigger too, about 12-40 pixels, so the index threshold of 2 is checked in benchmarks/poisoning.py.)"""
    *_, clean_x = fm
    bad = neural_cleanse(models["badnets"], clean_x[:320], 10, epochs=12, generator=torch.Generator().manual_seed(0))
    assert int(np.argmin(bad.l1)) == TARGET and int(np.argmax(bad.anomaly_index)) == TARGET
    assert bad.l1[TARGET] < 0.25 * np.median(bad.l1)  # a 3x3 patch against masks of 35-110 pixels
    assert bad.success[TARGET] >= 0.99
    clean = neural_cleanse(models["clean"], clean_x[:320], 10, epochs=12, generator=torch.Generator().manual_seed(0))
    assert clean.anomaly_index[TARGET] < 1.0 and clean.l1[TARGET] > 0.5 * np.median(clean.l1)


def test_text_trigger_inserts_one_word_and_flips_only_non_target_labels():
    texts = np.array(["a fine film", "dull and long", "a mess", "warm and funny", "too slow"], dtype=object)
    y = np.array([1, 0, 0, 1, 0])
    p = TextTrigger(target_label=1, word="cf").poison(texts, y, 0.4, np.random.default_rng(0))
    assert len(p.poison_idx) == 2 and (y[p.poison_idx] == 0).all() and (p.y[p.poison_idx] == 1).all()
    for i in p.poison_idx:
        words = p.x[i].split()
        assert words.count("cf") == 1 and [w for w in words if w != "cf"] == texts[i].split()
    untouched = np.setdiff1d(np.arange(5), p.poison_idx)
    assert list(p.x[untouched]) == list(texts[untouched])


def test_bad_poison_rate_is_refused():
    x, y = np.zeros((10, 1, 4, 4), np.float32), np.arange(10) % 2
    with pytest.raises(InputError, match="poison rate must be in"):
        BadNets(0).poison(x, y, 1.5, np.random.default_rng(0))
    with pytest.raises(InputError, match="eligible"):
        BadNets(0, size=2).poison(x, y, 0.9, np.random.default_rng(0))


def test_activation_clustering_copes_with_fewer_live_units_than_components():
    """A CNN's penultimate layer can have dead ReLU units. When the first unit is dead, scikit-learn's
    FastICA turned the whole decomposition NaN (the full default audit crashed on it); and live units
    can span fewer directions than the 10 components. Two cases, each with a well-separated 20% cluster:
    the first 60 of 120 units dead (which crashed before the fix), and only 3 units live."""
    rng = np.random.default_rng(0)
    for dead, live in ((60, 60), (61, 3)):
        reps = np.zeros((200, dead + live))
        reps[:, dead:] = rng.normal(size=(200, live))
        reps[:40, dead : dead + 3] += 8.0
        ac = activation_clustering(reps, np.zeros(200, int))
        assert ac.flagged[:40].all() and not ac.flagged[40:].any() and ac.flagged_classes == (0,), (dead, live)
