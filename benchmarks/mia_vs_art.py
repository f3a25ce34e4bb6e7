"""Membership inference against ART's MembershipInferenceBlackBox on the same target and split.

Target: the built-in default, quick profile (an MLP pretrained on public Fashion-MNIST classes 5-9,
fine-tuned with a fresh head on 1,000 private images of classes 0-4). Members and non-members are
split in halves: ART's attack model (rf, gb, nn) trains on one half of each with their membership
labels, which is ART's threat model, and every attack is scored on the other halves (500 + 500).
mlaudit's attacks use no membership labels of the target: LOSS, the base-model reference, and LiRA,
RMIA and the shadow-model attack with 8 online and 8 offline reference models trained by the
target's recipe (their training time is printed apart). Prints TPR at 1% FPR (Clopper-Pearson
interval), AUC and wall time per attack, and ends with tpr1_ratio_vs_art=X (mlaudit's best / ART's
best).

Usage: python benchmarks/mia_vs_art.py [--refs 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mlaudit.attacks import AttackInputs
from mlaudit.metrics import auc, tpr_at_fpr
from mlaudit.registry import get_attack
from mlaudit.scenarios.fashion_mnist import build_default, references
from mlaudit.targets import TorchTarget
from mlaudit.threat import Access, ThreatModel

# TPR at 1% FPR, its interval (None where not defined), AUC, seconds
Row = tuple[float, float | None, float | None, float, float]


def art_attacks(model: torch.nn.Module, tr_in, tr_out, ev_in, ev_out) -> dict[str, Row]:
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import PyTorchClassifier

    est = PyTorchClassifier(
        model,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=tuple(tr_in.x.shape[1:]),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    out: dict[str, Row] = {}
    for kind in ("rf", "gb", "nn"):
        t0 = time.perf_counter()
        att = MembershipInferenceBlackBox(est, attack_model_type=kind)
        att.fit(tr_in.x, tr_in.y, tr_out.x, tr_out.y)
        s_in = att.infer(ev_in.x, ev_in.y, probabilities=True)[:, -1]
        s_out = att.infer(ev_out.x, ev_out.y, probabilities=True)[:, -1]
        iv = tpr_at_fpr(s_in, s_out, 0.01)
        out[f"ART {kind}"] = (iv.value, iv.low, iv.high, auc(s_in, s_out), time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        cache = Path(d)
        sc = build_default("quick", seed=0, cache=cache)
        target = TorchTarget(sc.finetuned, num_classes=10, name="default fine-tuned mlp")
        t0 = time.perf_counter()
        on, off = references(sc, n_models=a.refs, seed=0, cache=cache, target=target)
        t_refs = time.perf_counter() - t0
    mem, non = sc.parts["members"], sc.parts["nonmembers"]
    rng = np.random.default_rng(0)
    pm, pn = rng.permutation(len(mem)), rng.permutation(len(non))
    half_m, half_n = len(mem) // 2, len(non) // 2
    tr_in, ev_in = mem.subset(pm[:half_m], "members (attack training)"), mem.subset(pm[half_m:], "members (eval)")
    tr_out, ev_out = non.subset(pn[:half_n], "non-members (attack training)"), non.subset(pn[half_n:], "eval")
    rows = art_attacks(sc.finetuned, tr_in, tr_out, ev_in, ev_out)
    view = target.restricted(ThreatModel(access=Access.PROBABILITIES))
    base = TorchTarget(sc.base, num_classes=10, name="public base")
    inputs = AttackInputs(ev_in, ev_out, sc.parts["control_a"], base, on, off)
    for name in ("loss", "base-reference", "lira-offline", "rmia-offline", "lira", "rmia", "shadow"):
        t0 = time.perf_counter()
        f = get_attack(name).run(view, inputs, seed=0)
        m = f.metrics["tpr_at_0.01_fpr"]
        rows[f"mlaudit {name}"] = (m.value, m.ci_low, m.ci_high, f.metrics["auc"].value, time.perf_counter() - t0)
    print(f"target: {target.name}; evaluation on {len(ev_in)} members + {len(ev_out)} non-members")
    print(f"reference models: {a.refs} online + {a.refs} offline, trained in {t_refs:.1f} s (not in the times below)")
    print(f"{'attack':24s}{'TPR@1%FPR':>10s}{'interval':>18s}{'AUC':>8s}{'time s':>9s}")
    for k, (v, lo, hi, au, t) in rows.items():
        iv = f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "(no interval)"
        print(f"{k:24s}{v:10.3f}   {iv:>16s}{au:8.3f}{t:9.2f}")
    best_ours = max(v[0] for k, v in rows.items() if k.startswith("mlaudit"))
    best_art = max(v[0] for k, v in rows.items() if k.startswith("ART"))
    print(f"tpr1_ratio_vs_art={best_ours / max(best_art, 1e-12):.3f}")


if __name__ == "__main__":
    main()
