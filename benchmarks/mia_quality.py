"""Membership-inference quality on the Fashion-MNIST CNN: offline attacks with 1 and 2 references,
online attacks with 8 or more, and every attack on the no-leak control.

Target: the built-in default, full profile (a CNN pretrained on public Fashion-MNIST classes 5-9,
fine-tuned with a fresh head on 1,000 private images of classes 0-4). Reference models follow the
target's recipe: `--refs` online ones on random halves of members + non-members, `--refs` offline ones
on population data only. Offline attacks are scored with the first 1 and the first 2 offline
references, online attacks with all of them. Prints TPR at 1% FPR (Clopper-Pearson interval) and AUC
per attack and reference count, each attack's AUC on the control (two disjoint non-member sets) in
units of the null sigma, and checks the issue's ordering:
LOSS < LiRA-offline <= RMIA-offline at 1 and 2 references; online LiRA and RMIA beat every offline
attack (and every attack without references: label-only, gradient-norm, white-box, base-reference).
Ends with `quality_ok=True|False`.

Usage: python benchmarks/mia_quality.py [--refs 8] [--profile full] [--cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from mlaudit.attacks import AttackInputs
from mlaudit.attacks.references import References
from mlaudit.registry import get_attack
from mlaudit.scenarios.fashion_mnist import build_default, references
from mlaudit.targets import TorchTarget
from mlaudit.threat import ThreatModel


def first(refs: References, k: int) -> References:
    """The same record restricted to its first k reference models."""
    return dataclasses.replace(
        refs,
        probabilities=refs.probabilities[:k],
        keep=refs.keep[:k],
        population_probabilities=refs.population_probabilities[:k],
        view_probabilities=None if refs.view_probabilities is None else refs.view_probabilities[:, :k],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=8)
    ap.add_argument("--profile", default="full", choices=("quick", "full"))
    ap.add_argument("--cache", default=None, help="keep trained models here (reruns reuse them)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        cache = Path(a.cache or d)
        t0 = time.perf_counter()
        sc = build_default(a.profile, seed=0, cache=cache)
        target = TorchTarget(sc.finetuned, num_classes=10, name=f"default fine-tuned {sc.settings.architecture}")
        t_target = time.perf_counter() - t0
        t0 = time.perf_counter()
        on, off = references(sc, n_models=a.refs, seed=0, cache=cache, target=target, views=True)
        t_refs = time.perf_counter() - t0
    print(f"target: {target.name} ({a.profile} profile), utility {sc.utility}, built in {t_target:.0f} s")
    print(f"reference models: {a.refs} online + {a.refs} offline, trained in {t_refs:.0f} s")
    base = TorchTarget(sc.base, num_classes=10, name="public base")
    p = sc.parts
    tpr: dict[tuple[str, int], float] = {}
    print(f"{'attack':28s}{'refs':>5s}{'TPR@1%FPR':>10s}{'interval':>18s}{'AUC':>8s}{'control z':>11s}")
    plan = [("loss", 0), ("base-reference", 0), ("label-only", 0), ("gradient-norm", 0), ("white-box", 0)]
    plan += [(n, k) for k in (1, 2, 4) for n in ("lira-offline", "lira-offline-per-example-variance", "rmia-offline")]
    online = ("lira", "lira-fixed-variance", "lira-per-example-variance", "rmia", "shadow")
    plan += [(n, a.refs) for n in ("lira-offline", "lira-offline-per-example-variance", "rmia-offline", *online)]
    plan += [("lira-augmented", a.refs)]  # with augmented queries (mirror, 1-pixel shifts), for comparison
    ok_control = True
    for name, k in plan:
        r_on, r_off = (first(on, k), first(off, k)) if k else (on, off)
        main_in = AttackInputs(p["members"], p["nonmembers"], p["control_a"], base, r_on, r_off)
        ctl_in = AttackInputs(p["control_a"], p["control_b"], None, base, r_on, r_off)
        attack = get_attack(name)
        view = target.restricted(ThreatModel(access=attack.requires.access))
        f = attack.run(view, main_in, seed=0)
        c = attack.run(view, ctl_in, seed=0)
        m = f.metrics["tpr_at_0.01_fpr"]
        z = (c.metrics["auc"].value - 0.5) / c.metrics["auc_null_sigma"].value
        ok_control &= abs(z) <= 4
        tpr[(name, k)] = m.value
        iv = f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
        print(f"{name:28s}{k:5d}{m.value:10.3f}   {iv}{f.metrics['auc'].value:8.3f}{z:+11.2f}")
    checks = {}
    for k in (1, 2):
        checks[f"LOSS < LiRA-offline ({k} ref)"] = tpr[("loss", 0)] < tpr[("lira-offline", k)]
        checks[f"LiRA-offline <= RMIA-offline ({k} ref)"] = tpr[("lira-offline", k)] <= tpr[("rmia-offline", k)]
    best_offline = max(v for (n, k), v in tpr.items() if "offline" in n or k == 0)
    for n in ("lira", "rmia"):
        checks[f"online {n} ({a.refs} refs) beats every offline attack"] = tpr[(n, a.refs)] > best_offline
    checks["every attack within 0.5 +- 4 sigma on the control"] = ok_control
    for check, v in checks.items():
        print(f"{'PASS' if v else 'FAIL'}  {check}")
    print(f"quality_ok={all(checks.values())}")


if __name__ == "__main__":
    main()
