"""Model extraction: mlaudit's Knockoff Nets and Copycat against ART's KnockoffNets and CopycatCNN on the
same victim, query pool and budgets.

Victim: mlaudit's CNN trained on 5,000 Fashion-MNIST images (5 epochs, Adam 1e-3). Query pool: 10,000 other
Fashion-MNIST training images (the adversary's natural data; "random" sampling in both tools). Held-out:
2,000 further images, where fidelity (label agreement with the victim) is measured the same way for every
tool. Every thief is the same fresh CNN, trained the same number of epochs with Adam 1e-3, batch 64, from the
same torch seed. Knockoff uses the victim's probabilities, Copycat its labels. Budgets 100, 1,000, 10,000.
Prints fidelity (Clopper-Pearson interval) and wall time per tool and budget, and ends with
fidelity_ratio_vs_art_at_1k=X (mlaudit's Knockoff fidelity / ART's KnockoffNets fidelity at 1,000 queries).

Usage: python benchmarks/extraction_vs_art.py [--epochs 20] [--budgets 100 1000 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def cnn(seed: int) -> torch.nn.Module:
    from mlaudit.models import build

    torch.manual_seed(seed)
    return build("cnn", (1, 28, 28), 10)


def fidelity(model: torch.nn.Module, x: np.ndarray, truth: np.ndarray) -> float:
    with torch.no_grad():
        pred = torch.cat([model(torch.as_tensor(x[i : i + 512])) for i in range(0, len(x), 512)]).argmax(1).numpy()
    return float((pred == truth).mean())


def art_thief(victim: torch.nn.Module, pool: np.ndarray, budget: int, epochs: int, *, probs: bool) -> torch.nn.Module:
    from art.attacks.extraction import CopycatCNN, KnockoffNets
    from art.estimators.classification import PyTorchClassifier

    def wrap(m: torch.nn.Module, opt: bool) -> PyTorchClassifier:
        return PyTorchClassifier(
            m,
            loss=torch.nn.CrossEntropyLoss(),
            optimizer=torch.optim.Adam(m.parameters(), lr=1e-3) if opt else None,
            input_shape=(1, 28, 28),
            nb_classes=10,
            clip_values=(0.0, 1.0),
        )

    thief = cnn(1)
    # the victim as an API answers: probabilities (ART's KnockoffNets reads predict() as probabilities; the
    # CNN itself returns logits, which ART would then one-hot from garbage rows)
    victim = torch.nn.Sequential(victim, torch.nn.Softmax(dim=1)).eval()
    args = {"batch_size_fit": 64, "batch_size_query": 256, "nb_epochs": epochs, "nb_stolen": budget}
    attack = (
        KnockoffNets(wrap(victim, False), sampling_strategy="random", use_probability=True, **args)
        if probs
        else (CopycatCNN(wrap(victim, False), use_probability=False, **args))
    )
    np.random.seed(0)  # ART samples the pool with numpy's global generator
    stolen = attack.extract(pool, thieved_classifier=wrap(thief, True))
    return stolen.model.eval()


def main() -> None:
    from mlaudit.attacks import AttackInputs
    from mlaudit.data import load_builtin
    from mlaudit.metrics import clopper_pearson
    from mlaudit.models import TrainConfig, train
    from mlaudit.models.recipe import Recipe
    from mlaudit.registry import run_attack
    from mlaudit.targets import TorchTarget
    from mlaudit.threat import Access, Knowledge, ThreatModel

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 1000, 10000])
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = load_builtin("fashion-mnist")
    idx = np.random.default_rng(0).permutation(len(d))
    tr, pool, ho = idx[:5000], idx[5000:15000], idx[15000:17000]
    victim = train(
        cnn(0), d.x[tr], d.y[tr], TrainConfig(epochs=5, batch_size=64), generator=torch.Generator().manual_seed(0)
    )
    truth = victim(torch.as_tensor(d.x[ho])).argmax(1).numpy()
    print(
        f"victim: CNN, held-out accuracy {float((truth == d.y[ho]).mean()):.3f}; pool {len(pool)}, held-out {len(ho)}"
    )
    recipe = Recipe(start=cnn, config=TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-3))
    inputs = AttackInputs(pool=d.subset(pool, "pool"), nonmembers=d.subset(ho, "held-out"), recipe=recipe)
    tm = ThreatModel(Access.PROBABILITIES, knowledge=frozenset({Knowledge.POPULATION_DATA, Knowledge.TRAINING_RECIPE}))
    results: dict[tuple[str, int], tuple[float, float]] = {}
    for name in ("knockoff-nets", "copycat"):
        for b in args.budgets:
            t0 = time.perf_counter()
            f = run_attack(name, TorchTarget(victim, num_classes=10), inputs, seed=0, threat_model=tm, budgets=(b,),
                           epochs=args.epochs)  # fmt: skip
            results[(f"mlaudit {name}", b)] = (f.metrics["fidelity"].value, time.perf_counter() - t0)
    for name, probs in (("ART KnockoffNets", True), ("ART CopycatCNN", False)):
        for b in args.budgets:
            t0 = time.perf_counter()
            thief = art_thief(victim, d.x[pool], b, args.epochs, probs=probs)
            results[(name, b)] = (fidelity(thief, d.x[ho], truth), time.perf_counter() - t0)
    n = len(ho)
    print(f"{'tool':<24} {'queries':>8} {'fidelity':>9} {'95% interval':>16} {'wall s':>8}")
    for (tool, b), (fid, wall) in results.items():
        lo, hi = clopper_pearson(round(fid * n), n)
        print(f"{tool:<24} {b:>8} {fid:>9.3f}   [{lo:.3f}, {hi:.3f}] {wall:>8.1f}")
    at = 1000 if 1000 in args.budgets else args.budgets[len(args.budgets) // 2]
    ratio = results[("mlaudit knockoff-nets", at)][0] / max(results[("ART KnockoffNets", at)][0], 1e-9)
    print(f"fidelity_ratio_vs_art_at_1k={ratio:.3f}")


if __name__ == "__main__":
    main()
