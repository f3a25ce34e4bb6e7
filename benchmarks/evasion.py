"""Evasion figures on real data: a Fashion-MNIST CNN under PGD / the standard evaluation, transfer from
the public base to a fine-tuned target beside white-box, and word substitution on a fine-tuned MiniLM.

1. CNN trained on the 60,000 Fashion-MNIST training images (3 epochs); 1,000 test images; Linf PGD
   (20 and 100 steps) over an eps grid, the standard evaluation (APGD-CE, APGD-T, Square) at eps 0.1.
2. The built-in default's full profile (CNN pretrained on classes 5-9, fine-tuned with a fresh head on
   1,000 private images of classes 0-4): the audit's evasion finding (transfer with Clopper-Pearson
   intervals, white-box, Square, HopSkipJump).
3. all-MiniLM-L6-v2 fine-tuned (top 2 blocks + head) on 2,000 Rotten Tomatoes snippets; gradient-guided
   word substitution on 100 test snippets: success rate and words changed.

Usage: python benchmarks/evasion.py [--skip-text]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.attacks.evasion import pgd, standard_evaluation
from mlaudit.data import fashion_mnist
from mlaudit.models import CNN, TrainConfig, accuracy, train


def cnn_section() -> None:
    tr, te = fashion_mnist("train"), fashion_mnist("test")
    torch.manual_seed(0)
    m = CNN()
    t0 = time.perf_counter()
    train(m, tr.x, tr.y, TrainConfig(epochs=3, batch_size=128), generator=torch.Generator().manual_seed(0))
    for p in m.parameters():
        p.requires_grad_(False)
    x, y = torch.as_tensor(te.x[:1000]), torch.as_tensor(te.y[:1000], dtype=torch.long)
    print(f"CNN: trained in {time.perf_counter() - t0:.0f} s, test accuracy {accuracy(m, te.x, te.y):.4f}")
    g = torch.Generator().manual_seed(0)
    for steps in (20, 100):
        accs = []
        for eps in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2):
            xa = pgd(m, x, y, eps=eps, steps=steps, generator=g)
            accs.append(float((m(xa).argmax(1) == y).float().mean()))
        print(f"PGD-{steps} robust accuracy at eps 0/.02/.05/.1/.15/.2: " + " ".join(f"{a:.3f}" for a in accs))
        if steps == 20:
            print(f"pgd20_robust_accuracy_eps0.1={accs[3]:.4f}")
    t0 = time.perf_counter()
    ev = standard_evaluation(
        m, x, y, eps=0.1, steps=100, n_target_classes=9, square_queries=5000,
        generator=torch.Generator().manual_seed(0), rng=np.random.default_rng(0),
    )  # fmt: skip
    print(
        f"standard evaluation at eps 0.1: clean {ev.clean_accuracy:.3f}, robust {ev.robust_accuracy:.4f}, "
        f"broken by {ev.broken_counts()} ({time.perf_counter() - t0:.0f} s)"
    )


def transfer_section() -> None:
    from mlaudit.attacks import AttackInputs
    from mlaudit.registry import get_attack, view
    from mlaudit.scenarios.fashion_mnist import build_default, population_pool, recipe
    from mlaudit.targets import TorchTarget
    from mlaudit.threat import Access, Knowledge, ThreatModel

    with tempfile.TemporaryDirectory() as d:
        sc = build_default("full", seed=0, cache=Path(d))
    # the adversary of the default threat model: probabilities, knows the public base and the distribution
    tm = ThreatModel(
        access=Access.PROBABILITIES, knowledge=frozenset({Knowledge.BASE_MODEL, Knowledge.POPULATION_DATA})
    )
    target = TorchTarget(sc.finetuned, num_classes=10, name="default fine-tuned CNN")
    base = TorchTarget(sc.base, num_classes=10, name="public base model")
    inputs = AttackInputs(
        nonmembers=sc.parts["nonmembers"], base=base, recipe=recipe(sc), pool=population_pool(sc),
        budget="full", threat_model=tm,
    )  # fmt: skip
    attack = get_attack("evasion")
    t0 = time.perf_counter()
    f = attack.run(view(target, tm, auditor=attack.requires.auditor), inputs, seed=0)
    print(f"\ndefault full profile (fine-tuned CNN), evasion finding in {time.perf_counter() - t0:.0f} s:")
    for k, v in f.metrics.items():
        ci = f" [{v.ci_low:.3f}, {v.ci_high:.3f}]" if v.ci_low is not None else ""
        print(f"  {k:40s} {v.value:.4f}{ci}")


def text_section() -> None:
    from mlaudit.attacks.evasion.word_substitution import word_substitution
    from mlaudit.data import rotten_tomatoes
    from mlaudit.models.text import TextTrainConfig, finetune_text
    from mlaudit.targets.huggingface import HuggingFaceTarget, minilm_path

    d = rotten_tomatoes()
    perm = np.random.default_rng(0).permutation(len(d.x))
    x, y = np.array(d.x, dtype=object), d.y
    tr, te = perm[:2000], perm[-100:]
    t = HuggingFaceTarget(minilm_path(), num_labels=2, seed=0)
    t0 = time.perf_counter()
    finetune_text(
        t.model, t.tokenizer, list(x[tr]), y[tr], TextTrainConfig(), generator=torch.Generator().manual_seed(0)
    )
    acc = float((t.labels(list(x[te])) == y[te]).mean())
    print(f"\nMiniLM fine-tuned in {time.perf_counter() - t0:.0f} s; test accuracy {acc:.3f} on 100 snippets")
    t0 = time.perf_counter()
    res = [r for r in word_substitution(t.model, t.tokenizer, list(x[te]), y[te]) if r.attacked]
    ok = [r for r in res if r.success]
    print(
        f"word substitution: {len(ok)}/{len(res)} flipped ({len(ok) / len(res):.1%}), median words changed "
        f"{np.median([r.words_changed for r in ok]):.0f}, mean share of words "
        f"{np.mean([r.words_changed / r.n_words for r in ok]):.1%} ({time.perf_counter() - t0:.0f} s)"
    )
    for r in ok[:3]:
        print(f"  {r.original!r}\n  -> {r.adversarial!r}")
    print(f"text_attack_success={len(ok) / len(res):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--only", choices=["cnn", "transfer", "text"])
    a = ap.parse_args()
    torch.set_num_threads(2)
    for name, fn in (("cnn", cnn_section), ("transfer", transfer_section), ("text", text_section)):
        if (a.only in (None, name)) and not (name == "text" and a.skip_text):
            fn()


if __name__ == "__main__":
    main()
